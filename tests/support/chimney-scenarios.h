/*
 * chimney-nic test scenarios: written once against the scenario
 * interface (chimney-test-env.h), run by the unit tests
 * (tests/unit/test-scenarios.c, "/chimney/scenario/NAME") and by qos-test
 * (tests/qtest/chimney-scenario-test.c, "chimney-nic/scenario-NAME").
 *
 * One file per spec chapter (scenarios-*.c), each with a table of
 * { "name", function } entries; names cite the rules they check.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_SCENARIOS_H
#define CHIMNEY_SCENARIOS_H

#include "chimney-test-env.h"

typedef void (*ChimneyScenarioFn)(ChimneyTestEnv *env);

typedef struct ChimneyScenario {
    const char *name;
    ChimneyScenarioFn fn;
} ChimneyScenario;

/* Chapter tables, each ended by { NULL, NULL }. */
extern const ChimneyScenario chimney_scenarios_tree[];
extern const ChimneyScenario chimney_scenarios_initiate[];
extern const ChimneyScenario chimney_scenarios_terminate[];
extern const ChimneyScenario chimney_scenarios_state[];
extern const ChimneyScenario chimney_scenarios_update[];
extern const ChimneyScenario chimney_scenarios_wire[];
extern const ChimneyScenario chimney_scenarios_engine[];
extern const ChimneyScenario chimney_scenarios_errors[];
extern const ChimneyScenario chimney_scenarios_send[];
extern const ChimneyScenario chimney_scenarios_recv[];
extern const ChimneyScenario chimney_scenarios_abort[];
extern const ChimneyScenario chimney_scenarios_tcp[];

/* Every table, ended by NULL. */
extern const ChimneyScenario *const chimney_scenario_tables[];

#endif /* CHIMNEY_SCENARIOS_H */

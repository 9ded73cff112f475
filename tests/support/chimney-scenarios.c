/*
 * chimney-nic test scenarios: the list of chapter tables (see
 * chimney-scenarios.h).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-scenarios.h"

const ChimneyScenario *const chimney_scenario_tables[] = {
    chimney_scenarios_tree,
    chimney_scenarios_initiate,
    chimney_scenarios_terminate,
    chimney_scenarios_state,
    chimney_scenarios_update,
    chimney_scenarios_wire,
    chimney_scenarios_engine,
    chimney_scenarios_errors,
    chimney_scenarios_send,
    chimney_scenarios_recv,
    chimney_scenarios_abort,
    chimney_scenarios_tcp,
    NULL,
};

/*
 * The scenarios of tests/support/ (chimney-scenarios.h) over the fake
 * host: the same scenario functions qos-test runs over QEMU
 * (tests/qtest/chimney-scenario-test.c), here as
 * /chimney/scenario/NAME.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-fake-env.h"
#include "chimney-scenarios.h"

static void run_scenario(gconstpointer data)
{
    const ChimneyScenario *scn = data;
    FakeEnv *fe = fake_env_new();

    env_start(&fe->env);
    scn->fn(&fe->env);
    fake_env_free(fe);
}

int main(int argc, char **argv)
{
    const ChimneyScenario *const *tab;
    const ChimneyScenario *scn;

    g_test_init(&argc, &argv, NULL);
    for (tab = chimney_scenario_tables; *tab; tab++) {
        for (scn = *tab; scn->name; scn++) {
            char *path = g_strdup_printf("/chimney/scenario/%s", scn->name);

            g_test_add_data_func(path, scn, run_scenario);
            g_free(path);
        }
    }
    return g_test_run();
}

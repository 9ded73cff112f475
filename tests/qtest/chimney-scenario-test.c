/*
 * QTest: the scenarios of tests/support/ (chimney-scenarios.h) over QEMU,
 * as chimney-nic/scenario-NAME.  The same scenario functions run in the
 * unit tests over the fake host (tests/unit/test-scenarios.c); here the
 * environment is libqos/chimney-env-qtest.c: the portable driver core on
 * the qtest OS shim, the wire a socketpair behind the netdev, QEMU's
 * virtual clock.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/module.h"
#include "libqos/qgraph.h"
#include "libqos/pci.h"
#include "libqos/chimney-nic.h"
#include "libqos/chimney-env-qtest.h"
#include "tests/support/chimney-scenarios.h"

#ifndef _WIN32

typedef struct ScnData {
    int fd[2];
    const ChimneyScenario *scn;
} ScnData;

static void scn_data_clear(void *p)
{
    ScnData *sd = p;

    close(sd->fd[0]);
    qos_invalidate_command_line();
    close(sd->fd[1]);
    g_free(sd);
}

static void *scn_data_init(GString *cmd_line, void *arg)
{
    ScnData *sd = g_new0(ScnData, 1);
    int ret = socketpair(PF_UNIX, SOCK_STREAM, 0, sd->fd);

    g_assert_cmpint(ret, !=, -1);
    sd->scn = arg;
    g_string_append_printf(cmd_line, " -netdev socket,fd=%d,id=%s ",
                           sd->fd[1], CHIMNEY_QOS_NETDEV);
    g_test_queue_destroy(scn_data_clear, sd);
    return sd;
}

static void run_scenario(void *obj, void *data, QGuestAllocator *alloc)
{
    ScnData *sd = data;
    QChimneyEnv *qe = g_new0(QChimneyEnv, 1);

    qchimney_env_init(qe, obj, alloc, sd->fd[0]);
    qchimney_env_rx_setup(qe);
    env_start(&qe->env);
    sd->scn->fn(&qe->env);
    qchimney_env_fini(qe);
    g_free(qe);
}

static void register_chimney_scenario_test(void)
{
    const ChimneyScenario *const *tab;
    const ChimneyScenario *scn;

    for (tab = chimney_scenario_tables; *tab; tab++) {
        for (scn = *tab; scn->name; scn++) {
            QOSGraphTestOptions opts = {
                .before = scn_data_init,
                .arg = (void *)scn,
            };
            char *name = g_strdup_printf("scenario-%s", scn->name);

            qos_add_test(name, "chimney-nic", run_scenario, &opts);
            g_free(name);
        }
    }
}

libqos_init(register_chimney_scenario_test);

#endif /* !_WIN32 */

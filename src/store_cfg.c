/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_cfg - the bridge from the [redis] section to a store, shared by
 * the daemon's threads and the admin tool so they connect alike.
 */
#include "config.h"
#include "store.h"

/* store_new_cfg - a store on c's servers */
struct store *
store_new_cfg(const struct cfg *c, char *err, size_t errlen)
{
    return store_new_cfg_prefix(c, c->redis_prefix, err, errlen);
}

/* store_new_cfg_prefix - the same under another key prefix */
struct store *
store_new_cfg_prefix(const struct cfg *c, const char *prefix, char *err,
                     size_t errlen)
{
    struct store_opts o = {
        .servers = c->redis_servers,
        .read_servers = c->redis_read_servers,
        .username = c->redis_username,
        .password = c->redis_password,
        .db = c->redis_db,
        .prefix = prefix,
        .timeout_ms = c->redis_timeout_ms,
        .connect_timeout_ms = c->redis_connect_timeout_ms,
        .sentinels = c->redis_sentinels,
        .sentinel_master = c->redis_sentinel_master,
        .sentinel_password = c->redis_sentinel_password,
    };

    return store_new(&o, err, errlen);
}

/* SPDX-License-Identifier: BSD-2-Clause */
/* placeholder: being written */
typedef int nm_placeholder_store;

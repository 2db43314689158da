#pragma once
// The schema as an ordered list of migrations. Migration k (1-based) takes a
// database from user_version k-1 to k in one transaction. Never edit a
// migration that has shipped: add the next one.
#include <span>
#include <string_view>

#include "sqlite_handle.hpp"

namespace careloop::store::detail {

std::span<const std::string_view> migrations();

// The readings table and its indexes as the latest migration leaves them;
// bench/ceiling/sqlite_probe.cpp measures inserts against the same text.
std::string_view readings_ddl();

// Applies the migrations after the database's user_version up to `target`
// (the latest when 0). Throws StoreError(invalid) when the database is newer
// than this build, SqliteError when a migration fails (that one is rolled back).
void migrate(Connection& db, int target = 0);

int user_version(Connection& db);

}  // namespace careloop::store::detail

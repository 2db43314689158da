#pragma once
// The risk subcommands of careloop: `train` (a model and its card from a
// CSV and a spec) and `cohort` (a seeded synthetic training cohort).
#include <CLI/CLI.hpp>

namespace careloop::app {

// Registers the subcommands. Each runs from its CLI11 callback and ends the
// parse with CLI::RuntimeError(exit code), so main() goes no further.
void add_risk_commands(CLI::App& cli);

}  // namespace careloop::app

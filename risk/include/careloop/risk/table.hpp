#pragma once
// A numeric table read from or written to CSV: the training data of a
// model. A header row names the columns; every other field is a number or
// the missing-value marker, read as NaN (never as 0).
#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/result.hpp"

namespace careloop::risk {

struct Table {
  std::vector<std::string> names;
  std::vector<std::vector<double>> columns;  // columns[c][row]

  std::size_t rows() const noexcept { return columns.empty() ? 0 : columns.front().size(); }
  // nullptr when there is no such column.
  const std::vector<double>* column(std::string_view name) const noexcept;
  void add_column(std::string name, std::vector<double> values);
};

// Errc::invalid naming the line and column of the first field that is
// neither a number nor the marker, or of a row with the wrong field count.
// "NA" is read as missing as well as the marker.
core::Result<Table> parse_csv(std::string_view text, std::string_view missing_marker = "");
core::Result<Table> read_csv(const std::string& path, std::string_view missing_marker = "");

// Shortest text that reads back to the same double; NaN as an empty field.
void write_csv(const Table& table, std::ostream& out);

}  // namespace careloop::risk

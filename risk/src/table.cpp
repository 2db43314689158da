#include "careloop/risk/table.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <ostream>
#include <sstream>

namespace careloop::risk {

namespace {

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    fields.push_back(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

const std::vector<double>* Table::column(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return &columns[i];
  return nullptr;
}

void Table::add_column(std::string name, std::vector<double> values) {
  names.push_back(std::move(name));
  columns.push_back(std::move(values));
}

core::Result<Table> parse_csv(std::string_view text, std::string_view missing_marker) {
  Table t;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    const auto fields = split_fields(line);
    if (t.names.empty()) {
      for (auto f : fields) t.add_column(std::string(trim(f)), {});
      continue;
    }
    if (fields.size() != t.names.size())
      return core::Error::invalid("line " + std::to_string(line_no) + " has " + std::to_string(fields.size()) +
                                  " fields, the header " + std::to_string(t.names.size()));
    for (std::size_t c = 0; c < fields.size(); ++c) {
      const std::string_view f = trim(fields[c]);
      double v = std::numeric_limits<double>::quiet_NaN();
      if (f != missing_marker && f != "NA") {
        const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
        if (ec != std::errc{} || end != f.data() + f.size() || !std::isfinite(v))
          return core::Error::invalid("line " + std::to_string(line_no) + ", column " + t.names[c] + ": '" +
                                          std::string(f) + "' is neither a number nor the missing marker",
                                      {{"/" + t.names[c], "not a number"}});
      }
      t.columns[c].push_back(v);
    }
  }
  if (t.names.empty()) return core::Error::invalid("no header row");
  return t;
}

core::Result<Table> read_csv(const std::string& path, std::string_view missing_marker) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Error::not_found("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  auto t = parse_csv(ss.str(), missing_marker);
  if (!t) return core::Error::invalid(path + ": " + t.error().message, t.error().fields);
  return t;
}

void write_csv(const Table& table, std::ostream& out) {
  for (std::size_t c = 0; c < table.names.size(); ++c) out << (c ? "," : "") << table.names[c];
  out << '\n';
  char buf[64];
  for (std::size_t r = 0; r < table.rows(); ++r) {
    for (std::size_t c = 0; c < table.columns.size(); ++c) {
      if (c) out << ',';
      const double v = table.columns[c][r];
      if (std::isnan(v)) continue;
      const auto res = std::to_chars(buf, buf + sizeof buf, v);
      out.write(buf, res.ptr - buf);
    }
    out << '\n';
  }
}

}  // namespace careloop::risk

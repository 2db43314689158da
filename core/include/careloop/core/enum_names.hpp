#pragma once
// A fixed table between an enum and its wire names, searched linearly
// (the tables are a handful of entries).
#include <array>
#include <optional>
#include <string_view>
#include <utility>

namespace careloop::core {

template <class E, std::size_t N>
using NameTable = std::array<std::pair<std::string_view, E>, N>;

template <class E, std::size_t N>
constexpr std::optional<E> enum_from_name(const NameTable<E, N>& table, std::string_view s) noexcept {
  for (const auto& [name, value] : table)
    if (name == s) return value;
  return std::nullopt;
}

template <class E, std::size_t N>
constexpr std::string_view enum_name(const NameTable<E, N>& table, E e) noexcept {
  for (const auto& [name, value] : table)
    if (value == e) return name;
  return "?";
}

}  // namespace careloop::core

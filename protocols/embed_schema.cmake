# Writes the bytes of IN as a char array in OUT (a raw string literal would
# exceed the length ISO C++ guarantees and trip -Wpedantic).
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "// Generated from protocols/schema.json by embed_schema.cmake; do not edit.\n"
  "#include <string_view>\n"
  "#include \"careloop/protocols/protocol.hpp\"\n"
  "namespace careloop::protocols {\n"
  "namespace {\nconstexpr char schema_bytes[] = {${bytes}};\n}  // namespace\n"
  "std::string_view protocol_schema_text() noexcept { return {schema_bytes, sizeof schema_bytes}; }\n"
  "}  // namespace careloop::protocols\n")

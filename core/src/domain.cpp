#include "careloop/core/domain.hpp"

#include "careloop/core/enum_names.hpp"

namespace careloop::core {
namespace {

constexpr NameTable<Role, 4> roles{{{"patient", Role::patient}, {"doctor", Role::doctor},
                                {"authority", Role::authority}, {"admin", Role::admin}}};
constexpr NameTable<RegionLevel, 4> levels{{{"province", RegionLevel::province}, {"city", RegionLevel::city},
                                        {"district", RegionLevel::district},
                                        {"community", RegionLevel::community}}};
constexpr NameTable<Sex, 2> sexes{{{"female", Sex::female}, {"male", Sex::male}}};
constexpr NameTable<Smoking, 3> smoking{{{"never", Smoking::never}, {"former", Smoking::former},
                                     {"current", Smoking::current}}};

}  // namespace

std::string_view to_string(Role r) noexcept { return enum_name(roles, r); }
std::optional<Role> parse_role(std::string_view s) noexcept { return enum_from_name(roles, s); }
std::string_view to_string(RegionLevel l) noexcept { return enum_name(levels, l); }
std::optional<RegionLevel> parse_region_level(std::string_view s) noexcept { return enum_from_name(levels, s); }
std::string_view to_string(Sex s) noexcept { return enum_name(sexes, s); }
std::optional<Sex> parse_sex(std::string_view s) noexcept { return enum_from_name(sexes, s); }
std::string_view to_string(Smoking s) noexcept { return enum_name(smoking, s); }
std::optional<Smoking> parse_smoking(std::string_view s) noexcept { return enum_from_name(smoking, s); }

}  // namespace careloop::core

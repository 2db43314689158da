// libFuzzer target: bytes → JSON → mobile_api::parse_reading_batch, the
// parser behind POST /api/v1/me/readings. Beyond "no crash, no UB, no
// leak", it checks that every accepted reading is plausible and survives
// to_json → parse_reading unchanged, and that every rejection names a field
// inside its own item.
#include <cstdio>
#include <cstdlib>
#include <variant>

#include "careloop/core/plausibility.hpp"
#include "careloop/mobile_api/reading_json.hpp"
#include "fuzz_input.hpp"

namespace {

using namespace careloop;

void check_round_trip(const core::Reading& r, std::int64_t now) {
  const auto written = mobile_api::to_json(r);
  (void)written.dump();
  auto again = mobile_api::parse_reading(written, "/readings/0", now);
  auto* back = std::get_if<core::Reading>(&again);
  CARELOOP_FUZZ_ASSERT(back != nullptr);
  CARELOOP_FUZZ_ASSERT(back->kind == r.kind);
  CARELOOP_FUZZ_ASSERT(back->client_id == r.client_id);
  CARELOOP_FUZZ_ASSERT(back->taken_at.utc_ms == r.taken_at.utc_ms);
  CARELOOP_FUZZ_ASSERT(back->taken_at.offset_min == r.taken_at.offset_min);
  CARELOOP_FUZZ_ASSERT(back->source == r.source && back->note == r.note);
  CARELOOP_FUZZ_ASSERT(back->systolic_mmhg == r.systolic_mmhg);
  CARELOOP_FUZZ_ASSERT(back->diastolic_mmhg == r.diastolic_mmhg);
  CARELOOP_FUZZ_ASSERT(back->pulse_bpm == r.pulse_bpm);
  CARELOOP_FUZZ_ASSERT(back->glucose_mmol_l == r.glucose_mmol_l);
  CARELOOP_FUZZ_ASSERT(back->glucose_context == r.glucose_context);
  CARELOOP_FUZZ_ASSERT(back->weight_kg == r.weight_kg);
  CARELOOP_FUZZ_ASSERT(back->hba1c_percent == r.hba1c_percent);
  CARELOOP_FUZZ_ASSERT(back->medication_name == r.medication_name);
  CARELOOP_FUZZ_ASSERT(back->medication_status == r.medication_status);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto body = fuzz::parse_body(data, size);
  if (body.is_discarded()) return 0;  // the server answers 400 before the parser runs
  const auto now = fuzz::fixed_now_ms();
  auto batch = mobile_api::parse_reading_batch(body, now);
  if (!batch) {
    CARELOOP_FUZZ_ASSERT(!batch.error().message.empty());
    return 0;
  }
  CARELOOP_FUZZ_ASSERT(batch->items.size() == batch->client_ids.size());
  CARELOOP_FUZZ_ASSERT(batch->items.size() <= mobile_api::max_batch_readings);
  for (std::size_t i = 0; i < batch->items.size(); ++i) {
    const std::string pointer = "/readings/" + std::to_string(i);
    if (const auto* r = std::get_if<core::Reading>(&batch->items[i])) {
      CARELOOP_FUZZ_ASSERT(mobile_api::is_uuid(r->client_id));
      CARELOOP_FUZZ_ASSERT(core::check_plausibility(*r, pointer, now).empty());
      check_round_trip(*r, now);
    } else {
      const auto& errors = std::get<std::vector<core::FieldError>>(batch->items[i]);
      CARELOOP_FUZZ_ASSERT(!errors.empty());
      for (const auto& e : errors) {
        CARELOOP_FUZZ_ASSERT(e.pointer.starts_with(pointer));
        CARELOOP_FUZZ_ASSERT(!e.detail.empty());
      }
    }
  }
  return 0;
}

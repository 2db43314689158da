// What a patient is told at once after a critical reading. CLINICAL §3 puts
// these signals in the "same day" tier; the issue (item 8) asks that the
// patient hear what to do now: re-measure after 5 minutes' rest, the
// emergency symptoms that mean going to hospital at once, and that the doctor
// has been notified. The emergency symptoms are CLINICAL §1 (BP ≥ 180/110
// with severe headache, vomiting, chest or back pain, speech disturbance,
// limb weakness, breathlessness → emergency referral) and §2 (urgent referral:
// altered consciousness, fruity breath, vomiting, deep breathing, sudden loss
// of vision). Wording to be checked by a clinician (care/README.md).
#include "careloop/care/care.hpp"

namespace careloop::care {

std::optional<Advice> patient_advice(std::string_view signal) {
  if (signal == "bp_high")
    return Advice{
        "您的血压读数很高。请坐下安静休息5分钟后再测一次。如出现剧烈头痛、呕吐、胸痛或背痛、说话不清、"
        "一侧肢体无力或呼吸困难，请立即去医院急诊或拨打120。已通知您的医生，医生会尽快与您联系。",
        "Your blood pressure reading is very high. Sit down and rest quietly for 5 minutes, then measure again. "
        "If you have a severe headache, vomiting, chest or back pain, difficulty speaking, weakness of an arm or "
        "leg, or shortness of breath, go to a hospital emergency department at once or call 120. Your doctor has "
        "been notified and will contact you soon."};
  if (signal == "bp_low")
    return Advice{
        "您的血压读数很低。请坐下或躺下休息5分钟后再测一次。如感到要晕倒、意识模糊、胸痛或呼吸困难，"
        "请立即去医院急诊或拨打120。已通知您的医生，医生会尽快与您联系。",
        "Your blood pressure reading is very low. Sit or lie down and rest for 5 minutes, then measure again. "
        "If you feel faint or confused, or have chest pain or shortness of breath, go to a hospital emergency "
        "department at once or call 120. Your doctor has been notified and will contact you soon."};
  // Level 2 hypoglycaemia (ADA Table 6.3, CLINICAL §2): sugar first, then re-measure.
  // The 15 g / 15 minutes rule is ADA's standard treatment, cited from memory (a decision to check).
  if (signal == "glucose_low")
    return Advice{
        "您的血糖很低。请立即吃或喝含糖食物（如葡萄糖片、果汁或糖块），15分钟后再测一次。"
        "如出现嗜睡、意识模糊或无法进食，请家人立即拨打120。已通知您的医生，医生会尽快与您联系。",
        "Your blood glucose is very low. Eat or drink something sugary now (glucose tablets, fruit juice or "
        "sweets), then measure again after 15 minutes. If you become drowsy or confused, or cannot eat or drink, "
        "someone should call 120 at once. Your doctor has been notified and will contact you soon."};
  if (signal == "glucose_high")
    return Advice{
        "您的血糖很高。请洗手擦干，休息5分钟后再测一次，并适量饮水。如出现呕吐、呼吸深快、呼气有烂苹果味、"
        "嗜睡或意识模糊、突然视物不清，请立即去医院急诊或拨打120。已通知您的医生，医生会尽快与您联系。",
        "Your blood glucose is very high. Wash and dry your hands, rest for 5 minutes and measure again; drink "
        "some water. If you are vomiting, breathing deeply and fast, have a fruity smell on your breath, feel "
        "drowsy or confused, or suddenly cannot see well, go to a hospital emergency department at once or call "
        "120. Your doctor has been notified and will contact you soon."};
  if (signal == "heart_rate")
    return Advice{
        "您的心率超出安全范围。请坐下休息5分钟后再测一次。如出现胸痛、要晕倒或呼吸困难，请立即去医院急诊或拨打120。"
        "已通知您的医生，医生会尽快与您联系。",
        "Your heart rate is outside the safe range. Sit down, rest for 5 minutes and measure again. If you have "
        "chest pain, feel faint or are short of breath, go to a hospital emergency department at once or call "
        "120. Your doctor has been notified and will contact you soon."};
  return std::nullopt;
}

}  // namespace careloop::care

// zh-CN and en. The choice is remembered in localStorage; zh-CN is the default.
export type Lang = "zh-CN" | "en";
const KEY = "careloop.lang";

type Dict = Record<string, string>;
const zh: Dict = {
  app: "CareLoop 慢病随访", today: "今日", patients: "患者", logout: "退出", login: "登录",
  username: "用户名", password: "密码", login_failed: "用户名或密码错误", language: "English",
  lang_label: "切换到英文", critical: "危急", warning: "警示", open_alerts: "待处理警报",
  no_open_alerts: "没有待处理的警报。", followups: "逾期随访与长期未测患者", no_followups: "没有逾期随访或长期未测的患者。",
  live: "实时", reconnecting: "正在重新连接…", opened: "开始于", count: "次数", values: "数值",
  acknowledge: "确认处理", snooze: "暂缓", resolve: "解除", action: "处理方式", note: "备注", save: "保存",
  cancel: "取消", until: "暂缓至", hours: "小时", days: "天", called_patient: "已电话联系患者",
  changed_medication: "已调整用药", referred: "已转诊", advised_emergency_care: "已建议急诊", no_action: "无需处理",
  search: "搜索姓名、电话或编号", filter_uncontrolled_bp: "血压未控制", filter_uncontrolled_glucose: "血糖未控制",
  filter_high_risk: "高风险", filter_overdue: "随访逾期", filter_no_data: "无数据", filter_open_alerts: "有待处理警报",
  sort: "排序", sort_priority: "优先级", sort_name: "姓名", sort_last_reading: "最久未测", sort_id: "编号",
  name: "姓名", age: "年龄", sex: "性别", female: "女", male: "男", diagnoses: "诊断", bp_30d: "血压（30天均值）",
  glucose_30d: "血糖（30天空腹均值）", risk: "风险", alerts: "警报", last_reading: "最近测量", flags: "标记",
  prev: "上一页", next: "下一页", total: "共 {n} 人", register: "登记患者", birth_date: "出生日期", phone: "电话",
  external_id: "病历号", hypertension: "高血压", diabetes_t2: "2型糖尿病", activation_code: "激活码",
  activation_hint: "请患者在 CareLoop 应用或患者页面输入此激活码，或扫描二维码。有效期至 {t}。",
  close: "关闭", range: "时间范围", custom: "自定义", from: "从", to: "到", apply: "应用", bp: "血压",
  systolic: "收缩压", diastolic: "舒张压", pulse: "脉搏", glucose: "血糖", fasting: "空腹", nonfasting: "非空腹",
  weight: "体重", target_band: "目标范围", med_change: "用药调整", readings: "测量记录", time: "时间", kind: "类型",
  value: "数值", source: "来源", care_plan: "照护计划", current_plan: "当前计划", proposed_plan: "建议计划",
  none: "无", approve: "批准", edit: "修改后批准", reject: "驳回", reason: "理由", rationale: "依据",
  plan_unavailable: "本服务器尚未提供照护计划接口。", risk_scores: "风险评分", top_factors: "主要因素",
  alert_history: "警报历史", status: "状态", medications: "用药", no_readings: "该时间段内没有测量记录。",
  glucose_unit: "血糖单位", loading: "加载中…", error: "出错了", targets: "目标", monitoring: "监测",
  follow_up: "随访", lifestyle: "生活方式", referral: "转诊", medication: "药物", plan_json: "计划（JSON）",
  years: "岁", clinic: "诊所", status_open: "待处理", status_acknowledged: "已确认", status_snoozed: "已暂缓",
  status_resolved: "已解除", band_low: "低", band_moderate: "中", band_high: "高", never: "从未",
  saved: "已保存", reject_reason_required: "请填写驳回理由", signal_follow_up_overdue: "随访逾期",
  signal_stale_data: "长期未测", by: "处理人", version: "版本", decided: "决定于",
  // patient page
  p_title: "我的健康记录", activate: "激活账户", have_code: "有诊所给的激活码？", code: "激活码",
  log_bp: "记录血压", log_glucose: "记录血糖", log_weight: "记录体重", log_med: "记录服药", taken: "已服",
  missed: "漏服", history: "最近30天", messages: "消息", my_plan: "我的照护计划", no_plan: "医生尚未批准照护计划。",
  queued: "等待发送", sending: "发送中…", rejected: "被拒绝", offline: "离线：记录会在联网后自动发送。",
  app_name: "关爱随访", online: "在线", recent_entries: "最近记录", context: "测量时段", before_meal: "餐前", after_meal: "餐后",
  bedtime: "睡前", random: "随机", drug: "药名", no_messages: "暂无消息。", record: "记录",
  waiting_accounts: "本机有 {n} 条记录尚未发送，将在记录它们的账户再次登录后发送。",
  waiting_other: "本机另有 {n} 条其他账户的记录尚未发送，将在该账户登录后发送，不会记入您的档案。",
  unattributed: "本机有 {n} 条更新前记录的数据无法确认属于哪个账户，因此不会发送。如果是您的记录，请重新记录。",
  discard_unattributed: "从本机删除",
};
const en: Dict = {
  app: "CareLoop chronic care", today: "Today", patients: "Patients", logout: "Log out", login: "Log in",
  username: "Username", password: "Password", login_failed: "Wrong username or password", language: "中文",
  lang_label: "Switch to Chinese", critical: "Critical", warning: "Warning", open_alerts: "Open alerts",
  no_open_alerts: "No open alerts.", followups: "Overdue follow-ups and silent patients",
  no_followups: "No overdue follow-ups or silent patients.", live: "Live", reconnecting: "Reconnecting…",
  opened: "Opened", count: "Count", values: "Values", acknowledge: "Acknowledge", snooze: "Snooze",
  resolve: "Resolve", action: "Action", note: "Note", save: "Save", cancel: "Cancel", until: "Snooze until",
  hours: "hours", days: "days", called_patient: "Called the patient", changed_medication: "Changed medication",
  referred: "Referred", advised_emergency_care: "Advised emergency care", no_action: "No action needed",
  search: "Search name, phone or id", filter_uncontrolled_bp: "Uncontrolled BP",
  filter_uncontrolled_glucose: "Uncontrolled glucose", filter_high_risk: "High risk", filter_overdue: "Overdue",
  filter_no_data: "No data", filter_open_alerts: "Open alerts", sort: "Sort", sort_priority: "Priority",
  sort_name: "Name", sort_last_reading: "Longest silent", sort_id: "Id", name: "Name", age: "Age", sex: "Sex",
  female: "F", male: "M", diagnoses: "Diagnoses", bp_30d: "BP (30-day mean)", glucose_30d: "Glucose (30-day fasting mean)",
  risk: "Risk", alerts: "Alerts", last_reading: "Last reading", flags: "Flags", prev: "Previous", next: "Next",
  total: "{n} patients", register: "Register patient", birth_date: "Birth date", phone: "Phone",
  external_id: "Record no.", hypertension: "Hypertension", diabetes_t2: "Type 2 diabetes",
  activation_code: "Activation code",
  activation_hint: "The patient enters this code in the CareLoop app or the patient page, or scans the QR code. Valid until {t}.",
  close: "Close", range: "Range", custom: "Custom", from: "From", to: "To", apply: "Apply", bp: "Blood pressure",
  systolic: "Systolic", diastolic: "Diastolic", pulse: "Pulse", glucose: "Glucose", fasting: "Fasting",
  nonfasting: "Non-fasting", weight: "Weight", target_band: "Target range", med_change: "Medication change",
  readings: "Readings", time: "Time", kind: "Kind", value: "Value", source: "Source", care_plan: "Care plan",
  current_plan: "Current plan", proposed_plan: "Proposed plan", none: "None", approve: "Approve",
  edit: "Edit and approve", reject: "Reject", reason: "Reason", rationale: "Rationale",
  plan_unavailable: "This server does not offer the care plan API yet.", risk_scores: "Risk scores",
  top_factors: "Top factors", alert_history: "Alert history", status: "Status", medications: "Medications",
  no_readings: "No readings in this range.", glucose_unit: "Glucose unit", loading: "Loading…", error: "Error",
  targets: "Targets", monitoring: "Monitoring", follow_up: "Follow-up", lifestyle: "Lifestyle", referral: "Referral",
  medication: "Medication", plan_json: "Plan (JSON)", years: "y", clinic: "Clinic", status_open: "Open",
  status_acknowledged: "Acknowledged", status_snoozed: "Snoozed", status_resolved: "Resolved", band_low: "low",
  band_moderate: "moderate", band_high: "high", never: "never", saved: "Saved",
  reject_reason_required: "A reason is required to reject", signal_follow_up_overdue: "Follow-up overdue",
  signal_stale_data: "No recent readings", by: "By", version: "Version", decided: "Decided",
  p_title: "My health record", activate: "Activate account", have_code: "Got an activation code from your clinic?",
  code: "Activation code", log_bp: "Log blood pressure", log_glucose: "Log glucose", log_weight: "Log weight",
  log_med: "Log medication", taken: "Taken", missed: "Missed", history: "Last 30 days", messages: "Messages",
  my_plan: "My care plan", no_plan: "Your doctor has not approved a care plan yet.", queued: "Waiting to send",
  sending: "Sending…", rejected: "Rejected", offline: "Offline: entries are sent automatically when you are back online.",
  app_name: "CareLoop", online: "Online", recent_entries: "Recent entries", context: "When", before_meal: "Before a meal",
  after_meal: "After a meal", bedtime: "Bedtime", random: "Random", drug: "Medicine", no_messages: "No messages yet.",
  record: "Save",
  waiting_accounts: "{n} entries on this phone are waiting to be sent; they are sent when the account that recorded them logs in again.",
  waiting_other: "{n} entries of another account are waiting on this phone; they are sent when that account logs in, never into your record.",
  unattributed: "{n} entries recorded on this phone before an update cannot be matched to an account, so they will not be sent. If they are yours, please record them again.",
  discard_unattributed: "Remove them from this phone",
};

let current: Lang = (localStorage.getItem(KEY) as Lang) === "en" ? "en" : "zh-CN";
const listeners: (() => void)[] = [];

export function lang(): Lang {
  return current;
}

export function setLang(l: Lang): void {
  current = l;
  localStorage.setItem(KEY, l);
  document.documentElement.lang = l;
  for (const f of listeners) f();
}

export function onLangChange(f: () => void): void {
  listeners.push(f);
}

export function t(key: string, vars: Record<string, string | number> = {}): string {
  const d = current === "en" ? en : zh;
  let s = d[key] ?? en[key] ?? key;
  for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, String(v));
  return s;
}

// {"zh-CN": "...", "en": "..."} in the current language.
export function words(w: unknown): string {
  if (!w || typeof w !== "object") return typeof w === "string" ? w : "";
  const o = w as Record<string, string>;
  return o[current] ?? o["zh-CN"] ?? o["en"] ?? "";
}

// A view's own words, kept beside the view (the reports' many column names).
export function addWords(zhWords: Dict, enWords: Dict): void {
  Object.assign(zh, zhWords);
  Object.assign(en, enWords);
}

document.documentElement.lang = current;

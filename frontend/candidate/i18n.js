// Every string the candidate sees, in English and Chinese; `t(key, vars)` fills {placeholders}.

export const STRINGS = {
  en: {
    title: "Video interview",
    connecting: "Connecting…",
    greeting: "Welcome, {name}.",
    wechat_login: "Use my WeChat name and photo",
    other_language: "中文",
    other_language_label: "切换到中文",

    device_title: "Check your camera and microphone",
    device_title_voice: "Check your microphone",
    device_title_text: "Check your connection",
    device_intro: "Allow this page to use your camera and microphone. Nothing is recorded during this check.",
    device_intro_voice: "Allow this page to use your microphone. Nothing is recorded during this check.",
    device_intro_text: "You answer in writing, so only your connection to the interview is checked.",
    device_check: "Check my camera and microphone",
    device_check_voice: "Check my microphone",
    camera: "Camera",
    microphone: "Microphone",
    network: "Network",
    checking: "Checking…",
    not_checked: "Not checked yet",
    working: "Working",
    unavailable: "Not available",
    speak_now: "Working: say something and watch the bar move",
    network_ok: "Good ({ms} ms round trip)",
    network_slow: "Slow ({ms} ms round trip): answers may reach us late",
    network_failed: "No connection to the interview server",
    denied: "You blocked the {device}. Allow it in your browser's site settings (the icon by the address), then try again.",
    missing: "No {device} was found. Connect one and try again.",
    busy: "The {device} is being used by another app. Close that app and try again.",
    device_failed: "The {device} could not be opened ({error}).",
    camera_and_microphone: "camera and microphone",
    camera_lower: "camera",
    microphone_lower: "microphone",
    offer_voice: "Continue without the camera (voice interview)",
    offer_text: "Answer in writing instead (text interview)",
    unsupported: "This browser cannot use a camera or microphone. In WeChat on an iPhone this needs iOS 14.3 or later. You can answer every question in writing instead, or update iOS and open the link again.",
    retry: "Try again",
    continue: "Continue",

    consent_title: "Before you start",
    consent_video: "This interview records your answers through your camera and microphone. The server transcribes what you say and checks that your face is visible, so the company can review your answers.",
    consent_voice: "This interview records your answers through your microphone. The server transcribes what you say, so the company can review your answers.",
    consent_text: "You answer each question in writing. Your answers are scored against the job's key points, so the company can review them.",
    consent_emotion: "The server also estimates your facial expressions (emotions) from the video, and the company sees a summary of them.",
    consent_agree: "I agree to be recorded and analysed for this interview.",
    consent_agree_text: "I agree that my written answers are analysed for this interview.",

    practice_title: "Practice question",
    practice_intro: "Try a sample question to get used to the timer. It is not sent anywhere and not scored. You can skip it.",
    practice_question: "Tell us briefly about yourself and what you do best.",
    practice_try: "Try the practice question",
    practice_again: "Practice again",
    practice_done: "Practice finished. Start the interview when you are ready.",
    start: "Start the interview",

    think: "Time to think: {time}",
    answer_left: "Time to answer: {time}",
    time_up: "Time is up: finish your sentence. The interview moves on shortly.",

    not_connected: "not connected",
    media_connecting: "connecting…",
    media_connected: "connected",
    media_disconnected: "disconnected",
    media_failed: "connection failed",
    media_closed: "closed",
    media_refused: "stopped",
    refused_video_too_large: "Your camera sent a larger picture than this interview accepts, so the connection was stopped. Reload the page to join again; if it happens again, close other apps that use the camera.",
    refused_frame_rate_too_high: "Your device sent far more video frames than a camera makes, so the connection was stopped. Reload the page to join again.",
    refused_bitrate_too_high: "Your device sent more data than this interview accepts, so the connection was stopped. Reload the page to join again.",
    reconnecting: "reconnecting…",
    hears_you: "The server hears you · {fps} fps",
    hears_silence: "The server hears silence · {fps} fps",
    question_progress: "Question {n} of up to {total}",
    follow_up: "Follow-up · ",
    answer_done: "I have finished this answer",
    your_answer: "Your answer",
    send_answer: "Send answer",
    waiting: "Waiting for the first question…",
    connection_lost: "The connection dropped. Reconnecting… your place in the interview is kept.",
    reconnect_failed: "We could not reconnect. Check your network, then try again.",

    chat_title: "Questions? Ask us",
    chat_placeholder: "Type a question about the interview",
    chat_send: "Send",
    chat_you: "You",
    chat_faq: "Help",
    chat_hr: "HR",
    chat_system: "Notice",
    chat_escalated: "passed to HR",

    done_title: "Thank you",
    done_text: "Your interview is complete. You can close this page.",
    cancelled_text: "The company has cancelled this interview. You can close this page.",
    result_title: "Your result",
    result_loading: "Preparing your result…",
    result_unavailable: "Your result is not available yet. The company will be in touch.",
    result_overall: "Overall score",
    result_competencies: "By competency",
    result_questions: "By question",
    result_suggestions: "Suggestions",
    not_answered: "not answered",
    score_of: "{score} / 100",
    competency_skills: "Skills",
    competency_communication: "Communication",
    competency_culture_fit: "Culture fit",
  },
  zh: {
    title: "视频面试",
    connecting: "正在连接…",
    greeting: "{name}，您好。",
    wechat_login: "使用我的微信昵称和头像",
    other_language: "English",
    other_language_label: "Switch to English",

    device_title: "检查摄像头和麦克风",
    device_title_voice: "检查麦克风",
    device_title_text: "检查网络连接",
    device_intro: "请允许本页面使用摄像头和麦克风。检查过程不会录制任何内容。",
    device_intro_voice: "请允许本页面使用麦克风。检查过程不会录制任何内容。",
    device_intro_text: "本次面试以文字作答，只需检查您与面试服务器的连接。",
    device_check: "检查摄像头和麦克风",
    device_check_voice: "检查麦克风",
    camera: "摄像头",
    microphone: "麦克风",
    network: "网络",
    checking: "检测中…",
    not_checked: "尚未检查",
    working: "正常",
    unavailable: "不可用",
    speak_now: "正常：请说几句话，音量条会随之跳动",
    network_ok: "良好（往返 {ms} 毫秒）",
    network_slow: "较慢（往返 {ms} 毫秒）：回答可能会延迟送达",
    network_failed: "无法连接面试服务器",
    denied: "您拒绝了{device}权限。请在浏览器的网站设置（地址栏旁的图标）中允许后重试。",
    missing: "未找到{device}。请连接后重试。",
    busy: "{device}正被其他应用占用。请关闭该应用后重试。",
    device_failed: "无法打开{device}（{error}）。",
    camera_and_microphone: "摄像头和麦克风",
    camera_lower: "摄像头",
    microphone_lower: "麦克风",
    offer_voice: "不使用摄像头继续（语音面试）",
    offer_text: "改为文字作答（文字面试）",
    unsupported: "当前浏览器无法使用摄像头或麦克风。在 iPhone 的微信中需要 iOS 14.3 或更高版本。您可以改为文字作答，或升级 iOS 后重新打开链接。",
    retry: "重试",
    continue: "继续",

    consent_title: "开始之前",
    consent_video: "本次面试会通过摄像头和麦克风录制您的回答。服务器会将您的话转写成文字，并检查您的面部是否在画面中，供公司审阅您的回答。",
    consent_voice: "本次面试会通过麦克风录制您的回答。服务器会将您的话转写成文字，供公司审阅您的回答。",
    consent_text: "您将以文字回答每道题。系统会对照岗位要点为您的回答评分，供公司审阅。",
    consent_emotion: "服务器还会根据视频估计您的面部表情（情绪），公司会看到其汇总。",
    consent_agree: "我同意在本次面试中被录制和分析。",
    consent_agree_text: "我同意在本次面试中对我的文字回答进行分析。",

    practice_title: "练习题",
    practice_intro: "先用一道示例题熟悉计时方式。练习内容不会发送，也不计分，可以跳过。",
    practice_question: "请简单介绍一下您自己，以及您最擅长的事情。",
    practice_try: "开始练习",
    practice_again: "再练一次",
    practice_done: "练习结束。准备好后即可开始面试。",
    start: "开始面试",

    think: "思考时间：{time}",
    answer_left: "作答时间：{time}",
    time_up: "时间到：请说完这句话，面试即将进入下一题。",

    not_connected: "未连接",
    media_connecting: "连接中…",
    media_connected: "已连接",
    media_disconnected: "连接中断",
    media_failed: "连接失败",
    media_closed: "已关闭",
    media_refused: "已停止",
    refused_video_too_large: "您的摄像头发送的画面超出了本次面试可接收的大小，连接已停止。请刷新页面重新加入；如果再次出现，请关闭其他正在使用摄像头的应用。",
    refused_frame_rate_too_high: "您的设备发送的视频帧远多于摄像头的正常速度，连接已停止。请刷新页面重新加入。",
    refused_bitrate_too_high: "您的设备发送的数据超出了本次面试可接收的范围，连接已停止。请刷新页面重新加入。",
    reconnecting: "正在重新连接…",
    hears_you: "服务器能听到您 · {fps} 帧/秒",
    hears_silence: "服务器没有听到声音 · {fps} 帧/秒",
    question_progress: "第 {n} 题（最多 {total} 题）",
    follow_up: "追问 · ",
    answer_done: "我已回答完毕",
    your_answer: "您的回答",
    send_answer: "提交回答",
    waiting: "正在等待第一道题…",
    connection_lost: "连接中断，正在重新连接……您的面试进度会保留。",
    reconnect_failed: "无法重新连接。请检查网络后重试。",

    chat_title: "有疑问？向我们提问",
    chat_placeholder: "输入您关于面试的问题",
    chat_send: "发送",
    chat_you: "您",
    chat_faq: "帮助",
    chat_hr: "HR",
    chat_system: "通知",
    chat_escalated: "已转交 HR",

    done_title: "谢谢",
    done_text: "面试已完成，您可以关闭此页面。",
    cancelled_text: "公司已取消本次面试，您可以关闭此页面。",
    result_title: "您的结果",
    result_loading: "正在生成您的结果…",
    result_unavailable: "您的结果暂时无法查看，公司会与您联系。",
    result_overall: "总分",
    result_competencies: "各项能力",
    result_questions: "各题得分",
    result_suggestions: "改进建议",
    not_answered: "未作答",
    score_of: "{score} / 100",
    competency_skills: "专业技能",
    competency_communication: "沟通表达",
    competency_culture_fit: "文化契合",
  },
};

let current = "en";

export function language() {
  return current;
}

/** Switch the UI language ('en' or 'zh'; anything else is English) and retranslate the static markup. */
export function setLanguage(lang) {
  current = STRINGS[lang] ? lang : "en";
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  translate(document);
}

export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

// Markup names its strings: data-i18n (text), data-i18n-placeholder, data-i18n-label (aria-label).
export function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
}

/** "1:05" for 65 seconds, "12 s" / "12 秒" under a minute. */
export function duration(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s >= 60) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  return current === "zh" ? `${s} 秒` : `${s} s`;
}

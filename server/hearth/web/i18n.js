// The page's words in each language it speaks: t('key', {name}) gives the string in the
// page's language (English where a language lacks it), with {name} filled in. The
// language is the person's profile's (GET /api/me `language`), else the browser's.
// Elements written in index.html carry their key: data-i18n (the text), and
// data-i18n-placeholder / -aria-label / -title (that attribute).

const STRINGS = {
  en: {
    skip: 'Skip to content',
    save: 'Save',
    cancel: 'Cancel',
    back: 'Back',
    close: 'Close',
    edit: 'Edit',
    delete: 'Delete',
    sure_delete: 'Sure? Delete',
    edit_label: 'Edit: {text}',
    delete_label: 'Delete: {text}',

    'nav.label': 'Main',
    'nav.characters': 'Characters',
    'nav.profile': 'Profile',
    'nav.logout': 'Log out',

    'status.reconnecting': 'Connection lost, reconnecting…',
    'status.busy_retry': 'The server is busy; retrying in {left} s…',
    'status.offline': 'The network is down; waiting for it…',
    'status.session_ended': 'Your session has ended; log in again.',
    'error.generic': 'Something went wrong: {error}',
    'error.http': 'the server answered {status}',
    'error.dropped_retry': 'the connection to the server dropped and is back; try again',
    'error.still_busy': 'The server is still busy ({message}); try again in a moment.',
    'error.dropped_reply': 'the connection dropped during the reply',
    'error.dropped_reloaded': 'the connection dropped; the conversation was reloaded from the '
      + 'server (a message that did not arrive is back in the box)',

    'login.title': 'Log in',
    'login.name': 'Name',
    'login.password': 'Password',
    'login.submit': 'Log in',

    'home.title': 'Characters',
    'home.new': 'New character',
    'home.import': 'Import a card',
    'home.hint': 'Pick a character to talk, or drop a card (.png or .json) here.',
    'home.conversations': 'Conversations',
    'home.no_conversations': 'No conversations yet: pick a character above.',
    'home.edit_label': 'Edit {name}',
    'home.delete_chat_label': 'Delete chat {title}',
    'home.unread': '{count} unread',
    'home.importing': 'Importing {file}…',
    'home.imported': 'Imported {name}.',

    'editor.title': 'Character',
    'editor.name': 'Name',
    'editor.picture': 'Change picture (PNG)',
    'editor.description': 'Description',
    'editor.personality': 'Personality',
    'editor.scenario': 'Scenario',
    'editor.greeting': 'Greeting',
    'editor.examples': 'Example dialogue',
    'editor.system': 'System prompt',
    'editor.voice': 'Voice',
    'editor.speed': 'Speed',
    'editor.hear': 'Hear it',
    'editor.lorebook': 'Lorebook',
    'editor.lorebook_hint': 'An entry is added to the window when one of its keys appears in '
      + 'the recent messages.',
    'editor.add_entry': 'Add an entry',
    'editor.export_png': 'Export PNG',
    'editor.export_json': 'Export JSON',
    'editor.default_voice': "The server's default",
    'editor.default_voice_named': "The server's default ({name})",
    'editor.voice_missing': '{name} (not installed here)',
    'editor.keys': 'Keys (comma-separated)',
    'editor.content': 'Content',
    'editor.enabled': 'Enabled',
    'editor.remove_entry': 'Remove entry',
    'editor.saved': 'Saved {name}.',
    'editor.no_voice': 'No voice is installed on the server.',
    'editor.sure_delete': "Sure? This deletes everyone's chats with it",
    'editor.deleted': 'Deleted {name}.',

    'profile.title': 'Your profile',
    'profile.hint': 'What your characters know about you, and the clock they keep.',
    'profile.display_name': 'Name to be called',
    'profile.pronouns': 'Pronouns',
    'profile.pronouns_example': 'she/her, they/them…',
    'profile.persona': 'About you',
    'profile.persona_example': 'A few lines your characters keep in mind: what you do, what '
      + 'you like.',
    'profile.persona_hint': 'Like a persona: shown to every character.',
    'profile.timezone': 'Time zone',
    'profile.device_zone': "Use this device's zone",
    'profile.zone_from_device': 'From this device ({zone}); Save to keep it.',
    'profile.zone_hint': 'Times in your chats are shown, and said, on this clock.',
    'profile.language': 'Language',
    'profile.language_hint': 'A language tag: en, ko, ja, pt-BR…',
    'profile.reach_out': 'Let characters message me first (a follow-up on your plans, a '
      + 'milestone, after a quiet spell)',
    'profile.notify': 'Show a notification on this device when a character writes',
    'profile.notify_unsupported': 'This browser cannot show notifications.',
    'profile.notify_blocked': 'Notifications are blocked for this site: allow them in the '
      + 'browser (the icon by the address) to use this.',
    'profile.saved': 'Saved.',

    'chat.title': 'Chat',
    'chat.back': 'Back to characters',
    'chat.new': 'New chat',
    'chat.card': 'Card',
    'chat.messages': 'Messages',
    'chat.message': 'Message',
    'chat.placeholder': 'Write a message (Enter sends, Shift+Enter: new line)',
    'chat.send': 'Send',
    'chat.you': 'You',
    'chat.you_spoken': 'You (spoken)',
    'chat.writing': 'writing…',
    'chat.wrote_first': 'wrote first',
    'chat.wrote_first_title': '{name} wrote first, {reason}',
    'chat.interrupted': 'interrupted',
    'chat.swipe': 'Alternative',
    'chat.swipe_prev': 'Previous alternative',
    'chat.swipe_next': 'Next alternative',
    'chat.regenerate': 'Regenerate',
    'chat.get_reply': 'Get a reply',
    'chat.why': 'Why?',
    'chat.edit_label': 'Edit the message',
    'reason.follow_up': 'following up on something you planned',
    'reason.milestone': 'for a milestone of yours together',
    'reason.birthday': 'for a birthday',
    'reason.absence': 'after a quiet spell',
    'reason.unasked': 'unasked',

    'why.title_generic': 'Why did she say that?',
    'why.title': 'Why did {name} say that?',
    'why.building': 'Building the window…',
    'why.greeting': "This is a greeting from the character's card: no window was built for it.",
    'why.intro': 'The window as the model would see it for your message {message}, built now '
      + 'from what is stored (nothing is saved or generated).',
    'why.tokens': '{used} of {n_ctx} tokens used, {reserve} kept for the reply{dropped}.',
    'why.dropped': '; {n} older turns left the window',
    'why.from_message': ' · from message {ids}',
    'why.blocks': 'Blocks',
    'why.block': 'Block',
    'why.tokens_col': 'Tokens',
    'why.messages_col': 'Messages',
    'why.memories': 'Recalled memories',
    'why.no_memories': 'None this turn.',
    'why.lorebook': 'Lorebook entries',
    'why.no_lorebook': 'None triggered.',
    'why.whole': 'The whole window ({n} messages)',

    'call.start': 'Start call',
    'call.end': 'End call',
    'call.ptt': 'Hold to talk',
    'call.ptt_title': 'Hold to talk (or hold Space while focused)',
    'call.latency_title': 'Last turn: end of your speech to the first reply audio',
    'call.she': 'She',
    'call.connecting': 'Connecting…',
    'call.listening': 'Listening',
    'call.hearing': 'You are speaking',
    'call.thinking': '{name} is thinking',
    'call.speaking': '{name} is speaking',
    'call.reconnecting': 'Connection lost, reconnecting…',
    'call.closed': 'Not in a call',
    'call.reconnecting_status': 'Connection lost, reconnecting the call…',
    'call.unavailable': 'Voice calls are not available in this build (call.js did not load).',
    'call.denied': 'Microphone denied: allow the microphone for this site in the browser (the '
      + 'icon by the address), then start the call again; or type instead.',
    'call.failed': 'The call could not start: {message}',
    'call.error': 'The call reported an error.',
    'call.insecure': 'the browser offers the microphone only to secure pages: open Hearth over '
      + 'https, or at http://localhost on this machine',

    'memory.title': 'Memory',
    'memory.hide': 'Hide',
    'memory.keeps': 'What {name} keeps about you',
    'memory.new_fact': 'A new fact',
    'memory.add_fact_placeholder': 'Add a fact',
    'memory.add': 'Add',
    'memory.fact': 'The fact',
    'memory.since': 'since ',
    'memory.no_facts': '{name} knows no facts about you yet.',
    'memory.summary': 'Summary',
    'memory.no_summary': 'No summary yet: one is written when older turns leave the window.',
    'memory.refresh': 'Refresh',

    'together.title': 'Together',
    'together.milestones': 'Milestones',
    'together.plans': 'Plans',
    'together.upcoming': 'Upcoming plans',
    'together.past': 'Past plans',
    'together.known_since': 'Known since',
    'together.last_talk': 'Last talk',
    'together.days_talked': 'Days talked',
    'together.no_milestones': 'None yet.',
    'together.no_plans': 'No plans yet: tell {name} about one and it shows here.',
    'together.none': 'None.',

    'plan.upcoming': 'upcoming',
    'plan.done': 'done',
    'plan.cancelled': 'cancelled',
    'plan.asked_about': 'asked about',
    'plan.done_button': 'Done',
    'plan.done_label': 'Done: {text}',
    'plan.cancel_button': 'Cancel it',
    'plan.cancel_label': 'Cancel: {text}',
    'plan.label': 'The plan',
    'plan.when': 'When',
    'plan.status': 'Status',
    'plan.all_day': 'all day',
  },

  ko: {
    skip: '본문으로 건너뛰기',
    save: '저장',
    cancel: '취소',
    back: '뒤로',
    close: '닫기',
    edit: '수정',
    delete: '삭제',
    sure_delete: '정말 삭제할까요?',
    edit_label: '수정: {text}',
    delete_label: '삭제: {text}',

    'nav.label': '메인',
    'nav.characters': '캐릭터',
    'nav.profile': '프로필',
    'nav.logout': '로그아웃',

    'status.reconnecting': '연결이 끊겼어요. 다시 연결하는 중…',
    'status.busy_retry': '서버가 바빠요. {left}초 뒤에 다시 시도해요…',
    'status.offline': '네트워크가 끊겼어요. 다시 연결되기를 기다리는 중…',
    'status.session_ended': '세션이 끝났어요. 다시 로그인해 주세요.',
    'error.generic': '문제가 생겼어요: {error}',
    'error.http': '서버가 {status} 응답을 보냈어요',
    'error.dropped_retry': '서버 연결이 끊겼다가 돌아왔어요. 다시 시도해 주세요',
    'error.still_busy': '서버가 아직 바빠요({message}). 잠시 뒤에 다시 시도해 주세요.',
    'error.dropped_reply': '답장을 받는 중에 연결이 끊겼어요',
    'error.dropped_reloaded': '연결이 끊겨서 대화를 서버에서 다시 불러왔어요(전달되지 않은 '
      + '메시지는 입력창에 돌려놓았어요)',

    'login.title': '로그인',
    'login.name': '이름',
    'login.password': '비밀번호',
    'login.submit': '로그인',

    'home.title': '캐릭터',
    'home.new': '새 캐릭터',
    'home.import': '카드 가져오기',
    'home.hint': '대화할 캐릭터를 고르거나, 카드(.png 또는 .json)를 여기에 끌어다 놓으세요.',
    'home.conversations': '대화',
    'home.no_conversations': '아직 대화가 없어요. 위에서 캐릭터를 골라 보세요.',
    'home.edit_label': '{name} 수정',
    'home.delete_chat_label': '대화 삭제: {title}',
    'home.unread': '읽지 않음 {count}개',
    'home.importing': '{file} 가져오는 중…',
    'home.imported': '{name|을/를} 가져왔어요.',

    'editor.title': '캐릭터',
    'editor.name': '이름',
    'editor.picture': '사진 바꾸기(PNG)',
    'editor.description': '설명',
    'editor.personality': '성격',
    'editor.scenario': '시나리오',
    'editor.greeting': '첫인사',
    'editor.examples': '대화 예시',
    'editor.system': '시스템 프롬프트',
    'editor.voice': '목소리',
    'editor.speed': '속도',
    'editor.hear': '들어 보기',
    'editor.lorebook': '로어북',
    'editor.lorebook_hint': '최근 메시지에 키워드가 나오면 그 항목이 대화 창에 들어가요.',
    'editor.add_entry': '항목 추가',
    'editor.export_png': 'PNG로 내보내기',
    'editor.export_json': 'JSON으로 내보내기',
    'editor.default_voice': '서버 기본값',
    'editor.default_voice_named': '서버 기본값({name})',
    'editor.voice_missing': '{name}(이 서버에 설치되지 않음)',
    'editor.keys': '키워드(쉼표로 구분)',
    'editor.content': '내용',
    'editor.enabled': '사용',
    'editor.remove_entry': '항목 삭제',
    'editor.saved': '{name|을/를} 저장했어요.',
    'editor.no_voice': '서버에 설치된 목소리가 없어요.',
    'editor.sure_delete': '정말요? 모든 사람의 이 캐릭터와의 대화가 삭제돼요',
    'editor.deleted': '{name|을/를} 삭제했어요.',

    'profile.title': '내 프로필',
    'profile.hint': '캐릭터들이 나에 대해 아는 것과, 캐릭터들이 따르는 시계예요.',
    'profile.display_name': '불릴 이름',
    'profile.pronouns': '대명사',
    'profile.pronouns_example': '그녀, 그, 그들…',
    'profile.persona': '나에 대해',
    'profile.persona_example': '캐릭터들이 기억할 몇 줄: 하는 일, 좋아하는 것.',
    'profile.persona_hint': '페르소나처럼 모든 캐릭터에게 보여져요.',
    'profile.timezone': '시간대',
    'profile.device_zone': '이 기기의 시간대 사용',
    'profile.zone_from_device': '이 기기의 시간대({zone})예요. 저장해야 유지돼요.',
    'profile.zone_hint': '대화 속 시간은 이 시계로 보여 주고 말해요.',
    'profile.language': '언어',
    'profile.language_hint': '언어 태그: ko, en, ja, pt-BR…',
    'profile.reach_out': '캐릭터가 먼저 메시지를 보내도 돼요(계획에 대한 안부, 기념일, 한동안 '
      + '조용할 때)',
    'profile.notify': '캐릭터가 메시지를 보내면 이 기기에 알림 표시',
    'profile.notify_unsupported': '이 브라우저는 알림을 표시할 수 없어요.',
    'profile.notify_blocked': '이 사이트의 알림이 차단되어 있어요. 브라우저(주소창 옆 아이콘)에서 '
      + '허용해 주세요.',
    'profile.saved': '저장했어요.',

    'chat.title': '대화',
    'chat.back': '캐릭터 목록으로',
    'chat.new': '새 대화',
    'chat.card': '카드',
    'chat.messages': '메시지',
    'chat.message': '메시지',
    'chat.placeholder': '메시지를 입력하세요(Enter: 보내기, Shift+Enter: 줄바꿈)',
    'chat.send': '보내기',
    'chat.you': '나',
    'chat.you_spoken': '나(음성)',
    'chat.writing': '쓰는 중…',
    'chat.wrote_first': '먼저 보냄',
    'chat.wrote_first_title': '{name|이/가} 먼저 보냈어요: {reason}',
    'chat.interrupted': '끊김',
    'chat.swipe': '다른 답',
    'chat.swipe_prev': '이전 답',
    'chat.swipe_next': '다음 답',
    'chat.regenerate': '다시 생성',
    'chat.get_reply': '답장 받기',
    'chat.why': '왜?',
    'chat.edit_label': '메시지 수정',
    'reason.follow_up': '계획한 일에 대해 물어보려고',
    'reason.milestone': '함께한 기념일이라서',
    'reason.birthday': '생일이라서',
    'reason.absence': '한동안 조용해서',
    'reason.unasked': '묻지 않았는데',

    'why.title_generic': '왜 그렇게 말했을까요?',
    'why.title': '{name|은/는} 왜 그렇게 말했을까요?',
    'why.building': '대화 창을 만드는 중…',
    'why.greeting': '캐릭터 카드의 첫인사예요. 이 메시지에는 대화 창을 만들지 않았어요.',
    'why.intro': '메시지 {message}에 대해 모델이 보게 될 대화 창이에요. 저장된 내용으로 지금 '
      + '만들었어요(아무것도 저장하거나 생성하지 않아요).',
    'why.tokens': '{n_ctx} 토큰 중 {used} 토큰 사용, 답장용으로 {reserve} 토큰 남김{dropped}.',
    'why.dropped': ', 오래된 턴 {n}개는 창에서 빠짐',
    'why.from_message': ' · 메시지 {ids}에서',
    'why.blocks': '블록',
    'why.block': '블록',
    'why.tokens_col': '토큰',
    'why.messages_col': '메시지',
    'why.memories': '떠올린 기억',
    'why.no_memories': '이번에는 없어요.',
    'why.lorebook': '로어북 항목',
    'why.no_lorebook': '작동한 항목이 없어요.',
    'why.whole': '대화 창 전체(메시지 {n}개)',

    'call.start': '통화 시작',
    'call.end': '통화 종료',
    'call.ptt': '누르고 말하기',
    'call.ptt_title': '누르고 말하기(포커스가 있을 때 스페이스를 눌러도 돼요)',
    'call.latency_title': '지난 턴: 말이 끝난 뒤 첫 답장 음성까지',
    'call.she': '상대',
    'call.connecting': '연결 중…',
    'call.listening': '듣는 중',
    'call.hearing': '말하는 중',
    'call.thinking': '{name|이/가} 생각하는 중',
    'call.speaking': '{name|이/가} 말하는 중',
    'call.reconnecting': '연결이 끊겼어요. 다시 연결하는 중…',
    'call.closed': '통화 중 아님',
    'call.reconnecting_status': '연결이 끊겼어요. 통화를 다시 연결하는 중…',
    'call.unavailable': '이 빌드에서는 음성 통화를 쓸 수 없어요(call.js를 불러오지 못함).',
    'call.denied': '마이크가 거부되었어요. 브라우저(주소창 옆 아이콘)에서 이 사이트의 마이크를 '
      + '허용한 뒤 통화를 다시 시작하거나, 글로 입력하세요.',
    'call.failed': '통화를 시작하지 못했어요: {message}',
    'call.error': '통화 중 오류가 났어요.',
    'call.insecure': '브라우저는 보안 페이지에서만 마이크를 허용해요. Hearth를 https로 열거나, '
      + '이 컴퓨터에서 http://localhost로 여세요',

    'memory.title': '기억',
    'memory.hide': '숨기기',
    'memory.keeps': '{name|이/가} 기억하는 나',
    'memory.new_fact': '새 사실',
    'memory.add_fact_placeholder': '사실 추가',
    'memory.add': '추가',
    'memory.fact': '사실',
    'memory.since': '기록: ',
    'memory.no_facts': '{name|은/는} 아직 나에 대해 아는 사실이 없어요.',
    'memory.summary': '요약',
    'memory.no_summary': '아직 요약이 없어요. 오래된 턴이 창에서 빠지면 요약이 쓰여요.',
    'memory.refresh': '새로고침',

    'together.title': '함께한 시간',
    'together.milestones': '기념일',
    'together.plans': '계획',
    'together.upcoming': '다가오는 계획',
    'together.past': '지난 계획',
    'together.known_since': '처음 만난 날',
    'together.last_talk': '마지막 대화',
    'together.days_talked': '대화한 날',
    'together.no_milestones': '아직 없어요.',
    'together.no_plans': '아직 계획이 없어요. {name}에게 계획을 말하면 여기에 보여요.',
    'together.none': '없어요.',

    'plan.upcoming': '예정',
    'plan.done': '완료',
    'plan.cancelled': '취소됨',
    'plan.asked_about': '물어봄',
    'plan.done_button': '완료',
    'plan.done_label': '완료: {text}',
    'plan.cancel_button': '취소하기',
    'plan.cancel_label': '취소: {text}',
    'plan.label': '계획',
    'plan.when': '언제',
    'plan.status': '상태',
    'plan.all_day': '하루 종일',
  },
};

const base = (tag) => String(tag).toLowerCase().split(/[-_]/)[0];

let current = 'en';

/** The language the page speaks now ('en', 'ko'). */
export const language = () => current;

/**
 * Locales for dates and numbers: the browser's own where it speaks the page's language
 * (en-GB keeps its day/month), else the page's language.
 */
export function locales() {
  const own = (navigator.languages || []).filter((tag) => base(tag) === current);
  return own.length ? own : [current];
}

// A Korean particle follows the sound of the word before it: "{name|이/가}" gives
// "나래가" but "하늘이"; after a word not ending in Hangul, both: "Ember이(가)".
function particle(word, withFinal, withoutFinal) {
  const code = word.charCodeAt(word.length - 1) - 0xac00;
  if (!(code >= 0 && code < 11172)) return `${withFinal}(${withoutFinal})`;
  return code % 28 ? withFinal : withoutFinal;
}

/** The string `key` in the page's language, {name} (or {name|은/는}) filled from `vars`. */
export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)(?:\|([^/}]+)\/([^}]+))?\}/g, (whole, name, a, b) => {
    if (!(name in vars)) return whole;
    const value = String(vars[name]);
    return a ? value + particle(value, a, b) : value;
  });
}

/**
 * Speak the profile's language (a BCP-47 tag) if the page knows it, else the first of the
 * browser's it knows, else English; <html lang> and every marked element follow.
 */
export function setLanguage(profileTag) {
  const wanted = [profileTag, ...(navigator.languages || [navigator.language])].filter(Boolean);
  current = wanted.map(base).find((tag) => tag in STRINGS) || 'en';
  document.documentElement.lang = current;
  translate(document);
}

/** Put the page's language into the elements under `root` that carry a key. */
export function translate(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const attr of ['placeholder', 'aria-label', 'title']) {
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      el.setAttribute(attr, t(el.getAttribute(`data-i18n-${attr}`)));
    }
  }
}

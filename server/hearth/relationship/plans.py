"""The person's dated plans and yearly dates, found in what they say, and changes to them.

Rules, not the model: the default 135M model embellishes (see the facts grounding
check), while a plan needs a date that was really said. ``find_plans`` reads one
message at the moment it was said; ``find_changes`` reads it against the plans
already known. Both work sentence by sentence, on the clause that holds the date.

Decisions:

- A plan is the person's own: a sentence whose subject is someone else ("my friend
  is going to Rome next week", "Tom has his driving test tomorrow") is skipped
  unless the message puts the person in it ("... and I'm the best man", "my sister
  and I", "we're going"). An event named by possession ("my sister's wedding is on
  Saturday", "my daughter's recital") is the person's: they are telling it because
  it is part of their life, and "how was your sister's wedding?" is a fair follow-up.
- Also someone else's: a clause led by he/she/they, a lowercase name doing something
  ("jess is moving to london"), a thing of theirs that is not an event one attends
  ("my best friend's flight", "my wife has a conference"), and things that happen by
  themselves ("the store opens at 10", "there's a full moon"). "With me" is read in
  the sentence and the next one, never the whole message ("just me and the dog").
- A clock time alone already gone today ("dumped a report on me at 4pm", said at 7pm)
  is the day's story unless the words look ahead ("I have a call at 9").
- Typed casually: negations without apostrophes (cant, dont, wont), emoji end a
  clause, an auxiliary opens a question only before its subject ("have you", not
  "have my test on wed"); would/should are wishes; "no plans"/"nothing" negate.
- Read as classes of phrasing, not examples: learner English ("my mom go to busan",
  "i have job interview at 10am", "on 21st"), any first-person past verb ("i skipped
  book club tonight", "went to the dentist on monday"; not "I booked", "stressed"),
  habits (usually, always, every monday and thursday), states ("by friday i'll be a
  millionaire"), a day only judged ("tomorrow is more scary.. i have job interview at
  10am": the clock time takes that day), two dated plans joined in one sentence ("...,
  and then my marathon is saturday"), an emoji as a full stop, and a fragment after
  the event it times ("blind date. saturday 7pm at some italian place").
- Skipped: questions (a "?" on the dated clause, or a sentence opening like one),
  hypotheticals (if, maybe, someday, I wish, I'd love to, thinking about; might,
  should, would only in the dated clause: "...which should cheer me up" is a plan),
  jokes (yeah right, as if, jk, an eye-roll, "totally ... lol"), negations on the
  dated clause (not, never, won't; but "can't wait", "not sure", "isn't until" are
  not negations), the past (had, went, was...), habits (every Friday, on Fridays),
  and cancellations.
- Birthdays and anniversaries (and "I was born on ...", "we got married on ...") are
  kind "date", due the next occurrence, whoever's they are; past tense and a past
  year do not matter for them ("his birthday was on friday, the 9th of january").
- A clause that only points back ("it's thursday at 2pm") is described by the
  sentence before it.
- A clock time alone in the sentence after a dated one ("Exam is Thursday. 2pm.")
  sets that plan's time.
- ``find_changes``: a sentence that cancels (cancelled, called off, is off, not
  going ... anymore, fell through, postponed without a new date) or moves (moved,
  rescheduled, pushed, postponed ... to a date; pushed back a week) an upcoming
  plan. The plan is the one sharing the most content words (stems, a few synonym
  groups: trip/flight/fly, exam/test...) with the sentence; "it"/"that" picks the
  only upcoming plan when there is one; a sentence naming nothing ("they moved me to
  thursday") is read with the message's sentences before it ("salon called"); a
  thing of someone else's ("my sister's flight got cancelled") changes nothing;
  otherwise no change. A new day without a
  time keeps the plan's old clock time ("moved to Thursday" keeps 7 pm); a new time
  alone keeps its day.
- With ``plans`` given, ``find_plans`` leaves out sentences that change a known plan
  and plans it already knows (same content, same day), so one message never yields
  both a change and a duplicate.

Phrase tables are per language (``_LEXICONS``); only English is written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, Protocol

from hearth.relationship.when import Due, When, at_local, due_of, find_shift, read_when

__all__ = ["Change", "Found", "PlanLike", "find_changes", "find_plans"]


@dataclass(frozen=True)
class Found:
    text: str  # a short description in the person's words: "interview", "fly to Busan"
    due: float  # epoch seconds; local midnight when all_day
    all_day: bool
    kind: Literal["plan", "date"]
    phrase: str  # the time expression, e.g. "tomorrow at 10"
    sentence: str = ""  # the sentence it was found in, for a gate that reads it


@dataclass(frozen=True)
class Change:
    plan_id: int | str
    status: Literal["cancelled", "upcoming"]
    due: float | None  # the new due when moved; None when cancelled
    all_day: bool | None


class PlanLike(Protocol):
    """What ``find_changes`` needs of a stored plan (``all_day`` is read if present)."""

    @property
    def id(self) -> int | str: ...
    @property
    def text(self) -> str: ...
    @property
    def due_at(self) -> float: ...
    @property
    def status(self) -> str: ...


# --- phrase tables (English) --------------------------------------------------

def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True)
class _Lexicon:
    sentence_end: re.Pattern[str]
    clause_break: re.Pattern[str]
    question_start: re.Pattern[str]
    hypothetical: re.Pattern[str]  # anywhere in the sentence: "if", "maybe", "I wish"
    modal: re.Pattern[str]  # only in the dated clause: "should", "might" ("which should help")
    habit: re.Pattern[str]  # "usually", "always": what one does, not a plan
    state: re.Pattern[str]  # "I'll be a millionaire by friday": a state, not an event
    day_state: re.Pattern[str]  # "tomorrow is gonna be rough": a day described, no event
    plan_join: re.Pattern[str]  # "..., and then my marathon is saturday": two plans
    same_trip: re.Pattern[str]  # "... and back on monday": the return of the same plan
    joke: re.Pattern[str]
    negation: re.Pattern[str]
    not_negation: re.Pattern[str]  # negative words that do not cancel the plan
    past: re.Pattern[str]
    other_subject: re.Pattern[str]
    others_event: re.Pattern[str]  # "my friend's flight": someone else's (group what)
    attended: re.Pattern[str]  # ... unless an event one goes to: "my cousin's wedding"
    with_me: re.Pattern[str]
    past_after: re.Pattern[str]  # right after the time: "today was so much"
    future: re.Pattern[str]  # marks a clock time already gone today as tomorrow's
    yearly: re.Pattern[str]
    yearly_name: re.Pattern[str]
    born: re.Pattern[str]
    married: re.Pattern[str]  # "we got married on 14 Feb": a wedding anniversary
    cancel: re.Pattern[str]
    move: re.Pattern[str]
    vague_move: re.Pattern[str]  # "postponed" with no new date: off for now
    later: re.Pattern[str]  # moves that can only go later
    pronoun: re.Pattern[str]
    lead_filler: re.Pattern[str]
    lead_subject: re.Pattern[str]
    lead_det: re.Pattern[str]
    trail: re.Pattern[str]
    points_back: re.Pattern[str]  # a clause whose subject is the thing said before
    fragment: re.Pattern[str]  # what is left of "saturday 7pm at some restaurant"
    event: re.Pattern[str]  # a noun a plan is named by: "interview", "blind date"
    stopwords: frozenset[str]
    synonyms: dict[str, str]
    change_words: frozenset[str]  # content words a change uses about any plan
    implied: tuple[tuple[str, re.Pattern[str]], ...]


_PEOPLE = (r"friends?|best\s+friend|bff|sister|brother|sis|bro|mum|mom|mother|dad|father|"
           r"parents|coworkers?|co-workers?|colleagues?|boss|manager|flatmates?|roommates?|"
           r"housemates?|neighbou?rs?|cousins?|aunt|auntie|uncle|grandma|grandpa|"
           r"grandmother|grandfather|grandparents|son|daughter|kids?|children|wife|husband|"
           r"partner|boyfriend|girlfriend|bf|gf|fianc[eé]e?|teacher|classmates?|"
           r"team(?:mates?)?|family|in-laws")

# "can't" typed as "cant": negations without the apostrophe.
_NT = (r"(?:n['’]t\b|\b(?:ca|do|does|did|wo|is|are|ai|was|were|could|should|would|have|has|"
       r"had|must)nt\b)")
_EMOJI = r"[\U0001F300-\U0001FAFF\u2600-\u27BF]"
# Nouns a plan is named by, so "flight is leaving at 6" is not someone else's doing.
_EVENTS = (r"flight|train|bus|plane|ferry|class|exam|test|meeting|party|concert|show|game|"
           r"match|interview|appointment|appt|trip|wedding|surgery|dinner|lunch|breakfast|"
           r"brunch|event|ceremony|movie|shift|session|course|lesson|practice|rehearsal|"
           r"tour|festival|date|call|presentation|deadline|defen[cs]e|graduation|move|"
           r"haircut|checkup|check-up|scan|procedure|operation|race|marathon|tournament|"
           r"recital|conference|workshop|seminar|lecture|gig|hike|picnic|bbq|barbecue")
# Words in -ed that are no past story: what sets something up ahead ("I booked a
# table for friday") and feelings ("stressed about friday").
_NOT_PAST = (r"(?:stressed|worried|scared|tired|bored|thrilled|pumped|psyched|excited|"
             r"interested|concerned|prepared|obsessed|freaked|terrified|"
             r"booked|scheduled|planned|arranged|reserved|registered|signed|decided|"
             r"confirmed|invited|organi[sz]ed|ordered|entered|applied|promised|offered|"
             r"volunteered|landed|scored|secured|snagged|managed|rescheduled|moved|"
             r"postponed|changed|pushed|delayed|shifted|switched|bumped|cancell?ed|called|"
             r"asked|requested|used|supposed|paid|bought|won)")
_IRREGULAR_PAST = (r"sent|told|ate|drank|found|gave|spoke|wrote|ran|slept|forgot|lost|heard|"
                   r"felt|thought|knew|said|sat|spent|broke|drove|rode|wore|caught|fought|"
                   r"sang|swam|began|chose|fell|kept|quit|woke|threw|done|seen|been|gone")
# Events one goes to: someone else's ("my cousin's wedding") is still the person's plan.
_ATTENDED = (r"wedding|party|recital|graduation|funeral|concert|show|play|performance|game|"
             r"match|ceremony|shower|reception|gig|christening|baptism|housewarming|"
             r"engagement|celebration|dinner|bbq|barbecue|hen\s+do|stag\s+do|"
             r"bachelorette|bachelor|farewell|leaving\s+do|memorial|bar\s+mitzvah|"
             r"bat\s+mitzvah|quincea[nñ]era|prom|recital|exhibition|opening|premiere")

_EN = _Lexicon(
    sentence_end=re.compile(r"(?<=[.!?;])(?<!\b[ap]\.m\.)(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)"
                            r"(?<!\bMrs\.)\s+|\n+|"
                            # An emoji ends a sentence as a full stop does.
                            rf"(?<={_EMOJI[:-1]}\uFE0F])\s+(?=\S)"),
    clause_break=_rx(rf",|;|\s[-–—]\s|\s*{_EMOJI}+\s*|\s+(?:and|but|so|because|cause|cuz|"
                     r"though|although|which|while|plus)\s+"),
    question_start=_rx(r"^(?:(?:so|and|but|hey|um|ok|okay|well|also|btw|oh)[\s,]+)*"
                       r"(?:(?:what|when|where|why|how|who|which|whose)(?:s|['’]s|['’]re)?\b|"
                       # An auxiliary opens a question only before its subject: "have you",
                       # "is it"; "have my driving test on wed" drops the "I".
                       r"(?:should|shall|could|would|can|do|does|did|are|is|am|will|was|were|"
                       r"have|has|wanna|want\s+to)n?['’]?t?\s+(?:you|u|ya|i|we|it|he|she|they|"
                       r"there|this|that|anyone|anybody|everyone)\b|"
                       r"(?:any|anyone|anybody)\s+(?:tips|ideas|advice|thoughts|plans|one)\b)"),
    hypothetical=_rx(r"(?<!asked\s)(?<!asking\s)(?<!wondering\s)"
                     r"\b(?:if|unless|whether|maybe|perhaps|someday|some\s+day|one\s+day|"
                     r"i\s+wish|wish\s+i|would\s+love|i['’]?d\s+love|i['’]?d\s+like|"
                     r"would\s+like|hoping|hope\s+to|thinking\s+(?:about|of)|"
                     r"considering|dreaming|daydreaming|in\s+theory|imagine|supposedly)\b"),
    # "would"/"should" wish or ought, but only of the dated clause: "tonight I'm on a
    # zoom call which should cheer me up" is a plan. "wouldn't miss it" is one too.
    modal=_rx(r"\b(?:might|would(?!\s*n['’]?t\s+miss)|should|ought\s+to|it['’]?d\s+be|"
              r"could\s+(?:go|do|try|maybe))\b"),
    habit=_rx(r"\b(?:usually|always|normally|generally|typically|often|regularly|"
              r"every\s+(?:time|day|night|morning|week)|each\s+time|whenever|used\s+to|"
              r"most\s+(?:days|nights|mornings|evenings|weekends))\b"),
    # Anything after "I'll be" but a place or a doing: "I'll be at the dentist", "I'll be
    # flying", "I'll be 30" (a birthday) stay plans; "a millionaire", "so tired" do not.
    state=_rx(r"\b(?:i|we)(?:['’]ll|\s+will|(?:['’]m|\s+am|['’]re|\s+are)\s+(?:gonna|"
              r"going\s+to))\s+(?:probably\s+|definitely\s+)?be\s+(?!(?:at|in|on|with|there|"
              r"home|back|away|out|off|up|down|over|married|engaged|\d+|\w+ing)\b)\w"),
    # The day itself is the subject and only judged: "tomorrow is more scary",
    # "friday's gonna be rough" (a clause with an event, "tomorrow is my exam", is kept).
    day_state=_rx(r"^(?:is|['’]s|will\s+be|gonna\s+be|going\s+to\s+be|looks|seems|feels)"
                  r"(?:\s+(?:so|very|really|super|more|even|pretty|kinda|kind\s+of|a\s+bit|"
                  r"gonna\s+be|going\s+to\s+be|such\s+a|a|an|the|too))*\s+"
                  r"(?:busy|scary|rough|hard|long|crazy|insane|hectic|stressful|fun|exciting|"
                  r"nerve-?wracking|tough|packed|full|chill|quiet|lazy|slow|tiring|exhausting|"
                  r"better|worse|good|bad|great|awful|terrible|nice|weird|free|boring|"
                  r"important|intense|scarier|harder|busier|worse)\b[\s!.~]*(?:day)?"
                  r"(?:\s+than\b.*)?[\s!.~]*$"),
    plan_join=_rx(r",?\s+and\s+then\b|,\s*then\b|,?\s+and\s+also\b|,\s*also\b|,?\s+plus\b|"
                  r";|,\s*and\b(?=\s+(?:my|our|the|i|we)\b)|\s+and\s+(?=(?:my|i|we)\b)"),
    same_trip=_rx(r"\b(?:back|return\w*|home)\b"),
    # No eye-roll emoji: it marks annoyance at real news as often as sarcasm.
    joke=_rx(r"\b(?:yeah|yea|ya)\s*,?\s+(?:right|sure)\b|\bas\s+if\b|\bjk\b|\bj/k\b|"
             r"\b(?:just\s+)?kidding\b|\bsure\s+jan\b|"
             r"\b(?:totally|definitely|obviously|surely)\b.*\b(?:lol|lmao|haha\w*|rofl)\b|"
             r"\b(?:lol|lmao|haha\w*|rofl)\b.*\b(?:totally|definitely|obviously|surely)\b"),
    negation=_rx(rf"{_NT}|\bnot\b|\bnever\b|\bno\s+longer\b|\bcannot\b|\bnope\b|"
                 r"\bno\s+(?:plans?|work|school|class(?:es)?|lectures?)\b|\bnothing\b|"
                 r"\bfree\s+(?:all\s+day|day)\b"),
    not_negation=_rx(r"\b(?:can['’]?t|cannot|could\s*n['’]t)\s+(?:wait|believe|sleep|stop)\b|"
                     r"\bnot\s+sure\b|\bdon['’]?t\s+(?:know|forget|worry|want\s+to\s+be)\b|"
                     r"\bnot\s+(?:looking\s+forward|ready|excited|gonna\s+lie)\b|"
                     r"\b(?:is|are|was)?n['’]?t\s+(?:until|till|it|you|that)\b|"
                     r"\bnot\s+(?:until|till)\b|"
                     r"\bwould\s*n['’]?t\s+miss\b|\bdon['’]?t\s+(?:feel\s+)?ready\b|"
                     r"\bhave\s*n['’]?t\s+(?:packed|started|finished|decided\s+what)\b"),
    past=_rx(r"\b(?:i|we|it|he|she|they)\s+(?:just\s+)?(?:had|went|was|were|did|met|saw|flew|"
             r"took|finished|passed|failed|attended|visited|came\s+back|got\s+back|left|"
             r"survived|nailed|bombed|aced)\b|"
             # Any first-person past ("i skipped book club tonight", "i've sent it"), but
             # not a verb that sets something up ahead ("I booked a table for friday").
             rf"\b(?:i|we)(?:['’]ve|\s+have)?\s+(?:(?:just|already|finally|kinda|only|totally|"
             rf"\w+ly)\s+)?(?!{_NOT_PAST}\b)(?:\w+(?<!e)ed|{_IRREGULAR_PAST})\b|"
             # ... with the "I" dropped: "went to the dentist on monday btw".
             rf"^(?:(?:and|so|but|btw|oh|also|just|finally)\s+)*(?!{_NOT_PAST}\b)"
             rf"(?:\w+(?<!e)ed|{_IRREGULAR_PAST}|went|had|did|saw|met|took)\b|"
             # "my exam was today" (not "was moved to friday", "was invited").
             rf"\b(?:was|were)\b(?!\s+(?:just\s+|also\s+)?{_NOT_PAST}\b)|\bwent\s+(?:well|okay|ok|"
             r"fine|great|badly)\b"),
    other_subject=_rx(rf"^(?:he|she|they)(?:['’]\w+)?\s+\w|"
                      rf"^(?:(?:(?:my|our|his|her|their|the)\s+(?:\w+\s+)?)?(?:{_PEOPLE})"
                      r"(?:\s+(?-i:[A-Z][a-z]+))?(?!['’]s)|"
                      r"(?:he|she|they)(?:['’](?:s|re|ll))?)\s+"
                      r"(?:is|are|was|has|have|had|will|['’]s|['’]re|gets|got|flies|leaves|"
                      r"starts|goes|heads|moves|plans|wants|needs|just|finally|also|"
                      r"might|[a-z]+s)\b|"
                      # Any verb after "my <person>", as learners type it: "my mom go to
                      # busan tomorrow" (not "my family trip", "my sister and i").
                      rf"^(?:my|our)\s+(?:\w+\s+)?(?:{_PEOPLE})\s+(?!(?:and|n|or|{_EVENTS}|"
                      r"vacation|holiday|reunion|outing|day|night|time|get-?together|"
                      r"gathering|birthday|bday|anniversary)\b)(?-i:[a-z]+)\b(?!['’])|"
                      # A capitalised name, only when the verb makes it a person's doing
                      # ("Marathon is this Sunday" is not someone).
                      r"^(?-i:[A-Z][a-z]+)(?:\s+(?-i:[A-Z][a-z]+))?\s+"
                      r"(?:(?:is|['’]s|are)\s+\w+ing|(?:has|had)\s+(?:his|her|their|a|an)|"
                      r"will|gets|starts|flies|leaves|goes)\b|"
                      # Any one-word name, typed lowercase too: "jess has her exam",
                      # "jess is moving to london" (not "flight is leaving at 6").
                      r"^\w+\s+(?:has|had|['’]s\s+got)\s+(?:his|her|their)\b|"
                      rf"^(?!(?:{_EVENTS}|it|that|this|everything|what|there|here|who)\b)"
                      r"\w+\s+(?:is|['’]s)\s+(?:moving|flying|leaving|going|heading|visiting|"
                      r"travell?ing|starting|getting|having|coming|driving|taking)\b|"
                      # A thing that happens by itself: "the store opens at 10", "my package
                      # arrives tomorrow", "there's a full moon" (not "my flight arrives").
                      rf"^(?:(?:the|my|our|a|an|this|that)\s+)?(?!(?:{_EVENTS})\b)\w+(?:\s+\w+)?"
                      r"\s+(?:looks|arrives|opens|closes|comes\s+out|ends|launches|drops|"
                      r"releases|airs|is\s+(?:supposed|forecast|expected|due)|will\s+be\s+"
                      r"(?:out|released|delivered))\b|^there(?:['’]s|\s+is|\s+will\s+be)\b"),
    others_event=_rx(rf"^(?:(?:my|our|his|her|their)\s+)?(?:\w+\s+)?(?:{_PEOPLE}|"
                     r"(?!(?-i:It|That|There|Here|What|Who|Where|When|How|He|She|Today|"
                     r"Tomorrow|Tonight|Everyone|Everything|Nothing|Let|Mother|Father|New|"
                     r"Valentine|Children|Saint|St)['’])(?-i:[A-Z][a-z]+))['’]s?\s+"
                     # Not "children's day" (a holiday) nor "Kyoto's off" ('s = is).
                     r"(?!(?:day|off|on|now|been|got|gonna|going|getting|cancell?ed|canceled|"
                     r"moved|postponed|delayed|over|done|happening|at|in|tomorrow|today|next|"
                     r"this|the|a|an|not|no|so|really|still|finally|back|coming|also|just)\b)"
                     r"(?P<what>\w+(?:\s+\w+){0,2})"),
    attended=_rx(rf"\b(?:{_ATTENDED})\b"),
    with_me=_rx(r"\b(?:i|we)(?:['’]m|['’]re|\s+am|\s+are)\s+(?:(?:also|definitely|finally)\s+)?"
                r"(?:going|coming|attending|invited|performing|speaking|hosting|driving|flying|"
                r"joining|helping|bringing|giving|taking|the\s+(?!one\b)\w+|a\s+\w+|her\s+\w+|"
                r"his\s+\w+|their\s+\w+|in\s+it|in\s+the)\b|"
                r"\b(?:i|we)(?:['’]ll|\s+will)\s+(?:be|go|come|attend|join|drive|fly|take)\b|"
                r"\b(?:i|we)\s+(?:have|need|got|gotta|must)\s+(?:to\s+)?(?:go|be|leave|attend|"
                r"drive|pick|take|fly|get)\b|\bwith\s+(?:me|us)\b|"
                # "my sister and i are", "me and jess are": not "... and i am jealous".
                r"\b(?:and|&)\s+(?:i|me)\s+(?:are|r|were|will|both|have|got|gonna)\b|"
                r"\bme\s+and\s+(?:\w+\s+)?(?:are|r|were|will|have|got|gonna|['’]re)\b|"
                r"\bwe['’]re\b|\bwe\s+are\b|\bwe['’]ll\b"),
    past_after=_rx(r"^[\s,]*(?:was|were|went|had|has\s+been|have\s+been)\b"),
    # "I have job interview at 10am" (no article, typed by a learner) looks ahead too.
    future=_rx(r"\b(?:i|we)\s+(?:have|got)\b(?!\s+been)|"
               r"\b(?:will|shall|gonna|going\s+to|have\s+to|has\s+to|need\s+to|gotta|"
               r"got\s+to|supposed\s+to|planning|planned|booked|scheduled|"
               r"(?:have|has|got)\s+(?:a|an|my|the|our|his|her)|later)\b|['’]ll\b|"
               r"['’]ve\s+got|\b(?:i|we)(?:['’]m|['’]re|\s+am|\s+are)\s+\w+ing\b"),
    yearly=_rx(r"\b(?:birthday|bday|b-day|birth\s+day|anniversary|name\s*day)\b"
               r"(?!\s+(?:party|dinner|drinks|celebration|bash|lunch|brunch|trip|present|gift|"
               r"cake|plans?))"),
    yearly_name=_rx(r"(?:\b(?:my|our|his|her|their)\s+)?(?:\b[\w-]+['’]s\s+)?"
                    r"(?:wedding\s+|dating\s+|work\s+)?"
                    r"(?:birthday|bday|b-day|birth\s+day|anniversary|name\s*day)\b"),
    born=_rx(r"\b(?:i\s+was|i['’]m)\s+born\s+(?:on\s+)?"),
    married=_rx(r"\b(?:we|i)\s+(?:got|were|was|have\s+been)\s+married\s+(?:on|since)\b"),
    cancel=_rx(r"\bcancel+(?:ed|ing|s)?\b|\bcall(?:ed|ing)?\s+(?:it\s+|the\s+\w+\s+)?off\b|"
               r"(?:\bis|\bare|['’]s|['’]re)\s+(?:now\s+|officially\s+|totally\s+)?off\b|"
               r"\boff\s+now\b|\bscrap+(?:ed|ing)?\b|\bf[ae]ll+(?:ing)?\s+through\b|"
               r"\bnot\s+happening\b|\bbail(?:ed|ing)?\s+on\b|\bpull(?:ed|ing)?\s+out\b|"
               r"\bdecided\s+(?:not\s+to|against)\b|\bgave\s+up\s+on\b|\bnixed\b|\baxed\b|"
               r"\bdrop+(?:ed|ing)?\s+out\b|\bon\s+hold\b|\bindefinitely\b|"
               rf"(?:\bnot\b|{_NT}|\bnever\b).*\b(?:any\s*more|after\s+all)\b|"
               r"\bno\s+longer\s+(?:going|happening|on)\b|\bwon['’]?t\s+be\s+(?:going|flying)\b|"
               r"\bcan['’]?t\s+make\s+it\b"),
    move=_rx(r"\b(?:mov(?:ed|ing)|move|re-?schedul(?:ed|ing|e)|postpon(?:ed|ing|e)|"
             r"push(?:ed|ing)?|delay(?:ed|ing)?|br(?:ought|ing|inging)\s+(?:it\s+)?forward|"
             r"bump(?:ed|ing)?|shift(?:ed|ing)?|chang(?:ed|ing|e)|switch(?:ed|ing)?|"
             r"put\s+(?:it\s+)?off|instead|now\s+(?:on|at|is)|is\s+now|['’]s\s+now)\b"),
    vague_move=_rx(r"\bpostpon(?:ed|ing|e)\b|\bput\s+(?:it\s+)?off\b|\bdelayed\b"),
    later=_rx(r"\bpostpon(?:ed|ing|e)\b|\bput\s+(?:it\s+)?off\b|\bdelay(?:ed|ing)?\b|"
              r"\bpush(?:ed|ing)?\s+(?:it\s+)?back\b"),
    pronoun=_rx(r"\b(?:it|that|instead|same\s+time|everything|the\s+whole\s+thing|"
                r"the\s+plan|our\s+plans?|"
                r"my\s+plans?)\b"),
    lead_filler=_rx(r"^(?:and|but|so|also|btw|oh|ok|okay|well|yeah|yes|yay|finally|anyway|"
                    r"just|ugh|omg|hey|plus|then|fyi|reminder|remember|guess\s+what|"
                    r"big\s+news|news|update|by\s+the\s+way|good\s+news|bad\s+news|"
                    r"oh\s+and|ah|hmm|wow|lol|welp|idk|honestly|tbh|ngl|also|"
                    r"(?:so\s+|really\s+|super\s+)?(?:can['’]?t\s+wait\s+"
                    r"(?:for|to)|looking\s+forward\s+to|excited\s+(?:for|about)|nervous\s+"
                    r"(?:for|about)|dreading|stressed\s+about|worried\s+about|ready\s+for))"
                    r"\b[\s,:!.\-]*"),
    lead_subject=_rx(r"^(?:i|we|me\s+and\s+\w+|\w+\s+and\s+(?:i|me))(?:['’](?:m|re|ve|ll|d))?"
                     r"\s+(?:(?:am|are|r|have|has|will|shall|gonna|"
                     r"got|gotta|have\s+got|need\s+to|have\s+to|must|finally|actually|also|"
                     r"officially|really|definitely|just|both|all)\s+)*"),
    lead_det=_rx(r"^(?:(?:there['’]s|there\s+is|it['’]s|it\s+is|is|are|['’]s|got|gotta|"
                 r"have\s+to|need\s+to|to|a|an|the|"
                 r"my|our|this|that|these|those|some)\s+)+"),
    trail=_rx(r"(?:[\s,.!?;:~\-–—()]+|\s+(?:is|are|['’]s|will\s+be|be|was|on|at|in|for|by|"
              r"to|from|this|next|coming|until|till|starts?|begins?|happens|happening|"
              r"scheduled|set|planned|booked|of|now|then|again|so|btw|lol|haha|finally|"
              r"officially|around|about|early|late|ugh|eek|yay|fingers\s+crossed|"
              r"[\U0001F300-\U0001FAFF\u2600-\u27BF]+))+$"),
    points_back=_rx(r"(?:it|that|this)(?:['’]?s\b|\s+is\b|\s+will\s+be\b|\s+['’]ll\s+be\b|\s*$)"),
    fragment=_rx(r"^(?:at|in|@|near|downtown|with)\b|^$"),
    event=_rx(rf"\b(?:{_EVENTS})\b"),
    stopwords=frozenset("""a an the my our your his her their its i me we us you he she they it
        is are was were be been being am 's s to of on at in for by from with and or but so
        this that these those next last coming tomorrow today tonight week weekend month
        day days weeks months year morning evening afternoon night monday tuesday wednesday
        thursday friday saturday sunday now just got get getting go going gone went have has
        had having will would can could should do does did done not no anymore any more
        moved move moving rescheduled reschedule postponed postpone pushed push delayed
        cancelled canceled cancel called call off back up forward instead again also new
        time same then there here out about around after before until till into onto
        really very too all some what when where which who how because	lol haha ugh oh ok okay
        yeah yes well guess news bad good sadly unfortunately actually totally""".split()),
    change_words=frozenset("""cancel cancell canceled called change plan plans shift bump
        schedul resched reschedul ugh welp sadly unfortunately anymore moved ca cant
        date""".split()),
    synonyms={"flight": "trip", "fly": "trip", "flying": "trip", "travel": "trip",
              "vacation": "trip", "holiday": "trip", "getaway": "trip", "journey": "trip",
              "test": "exam", "midterm": "exam", "final": "exam", "quiz": "exam",
              "appt": "appointment", "meal": "dinner", "supper": "dinner", "bash": "party",
              "marriage": "wedding", "married": "wedding", "doc": "doctor", "gp": "doctor",
              "dental": "dentist", "pitch": "presentation", "gig": "concert",
              "meet": "meeting", "checkup": "appointment", "check": "appointment",
              "session": "appointment", "therapist": "therapy", "hairdresser": "haircut",
              "barber": "haircut", "salon": "haircut", "stylist": "haircut", "hair": "haircut",
              "hairdo": "haircut", "airline": "trip", "airport": "trip", "plane": "trip",
              "clinic": "doctor", "hospital": "doctor",
              "tix": "ticket", "tickets": "ticket"},
    implied=(
        ("trip", _rx(r"\b(?:fly|flying|flight|leav(?:e|ing)|head(?:ing)?|go(?:ing)?|off|"
                     r"travel\w*|driv(?:e|ing)|trip|road\s*trip)\s+(?:up\s+|down\s+|out\s+|"
                     r"back\s+|over\s+)?(?:to|for)\s+(?-i:[A-Z])")),
        ("house-move", _rx(r"\b(?:the|my|our|a|big)\s+move\b|\bmoving\s+(?:house|home|"
                           r"apartments?|flats?|out|in|into|to\s+a\s+new)\b")),
    ),
)
_LEXICONS = {"en": _EN}
_WEEKDAY_WORD = _rx(r"\b(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|satur?|sun)(?:day)?\b")


def _lexicon(lang: str) -> _Lexicon:
    return _LEXICONS.get(lang.split("-")[0].lower(), _EN)


# --- sentences and clauses ------------------------------------------------------

@dataclass(frozen=True)
class _Sentence:
    text: str
    when: When | None


def _sentences(text: str, lex: _Lexicon, now: datetime, lang: str) -> list[_Sentence]:
    out = []
    for raw in lex.sentence_end.split(text):
        for part in _split_joined(raw.strip(), lex, now, lang):
            out.append(_Sentence(part, read_when(part, now=now, lang=lang)))
    return out


def _has_day(text: str, now: datetime, lang: str) -> bool:
    w = read_when(text, now=now, lang=lang)
    return w is not None and (w.day is not None or w.instant is not None)


def _split_joined(text: str, lex: _Lexicon, now: datetime, lang: str) -> list[str]:
    """One sentence with two dated plans joined ("vet on wednesday at 4, and then my
    marathon is saturday") as two; the way back of a trip stays with it."""
    if not text:
        return []
    if lex.hypothetical.search(text) or lex.joke.search(text):
        return [text]  # "if it rains saturday we stay home, and then sunday ...": one wish
    for m in lex.plan_join.finditer(text):
        left, right = text[:m.start()].strip(), text[m.end():].strip()
        if _has_day(left, now, lang) and _has_day(right, now, lang) \
                and not lex.same_trip.search(right):
            return [left, *_split_joined(right, lex, now, lang)]
    return [text]


def _clause(s: _Sentence, lex: _Lexicon) -> tuple[int, int]:
    """The span of the clause holding the time expression."""
    assert s.when is not None and s.when.spans
    at = s.when.spans[0][0]
    start, end = 0, len(s.text)
    for m in lex.clause_break.finditer(s.text):
        if m.end() <= at:
            start = m.end()
        elif m.start() >= s.when.spans[0][1]:
            end = m.start()
            break
    return start, end


def _is_question(s: _Sentence, clause: tuple[int, int], lex: _Lexicon) -> bool:
    if lex.question_start.search(s.text):
        return True
    # "My interview is tomorrow, can you help me prep?" asks about something else.
    return s.text.rstrip().endswith("?") and not s.text[clause[1]:].strip(" ?!.")


def _is_negated(clause: str, lex: _Lexicon) -> bool:
    return lex.negation.search(lex.not_negation.sub(" ", clause)) is not None


# --- descriptions -----------------------------------------------------------------

def _describe(s: _Sentence, clause: tuple[int, int], lex: _Lexicon, before: str = "") -> str:
    """The clause without its time expression, subject and filler: "fly to Busan".

    A clause that only points back ("it's thursday at 2pm") is described by the
    sentence before it ("i got the interview!!!").
    """
    assert s.when is not None
    chars = list(s.text)
    for a, b in s.when.spans:
        for i in range(a, b):
            chars[i] = " "
    text = "".join(chars)
    parts = [text[clause[0]:clause[1]], text[:clause[0]]]
    rest = text[clause[0]:clause[1]].strip()
    if before and lex.points_back.match(rest):
        parts.insert(0, before)
    elif before and lex.fragment.match(lex.lead_filler.sub("", rest).strip()) \
            and lex.event.search(before):
        # "my friend set me up on a blind date. saturday 7pm at some italian place"
        parts.insert(0, f"{before.rstrip(' .!')} {rest}")
    for part in parts + [text[clause[1]:]]:
        got = _clean(part, lex)
        if _content(got, lex):
            return got
    return ""


def _clean(text: str, lex: _Lexicon) -> str:
    t = " ".join(text.split())
    for _ in range(4):
        before = t
        t = lex.lead_filler.sub("", t)
        t = lex.lead_subject.sub("", t)
        t = lex.lead_det.sub("", t)
        t = lex.trail.sub("", t)
        t = t.strip(" ,.!?;:")
        if t == before:
            break
    words = t.split()
    return " ".join(words[:8])


def _describe_date(sentence: str, lex: _Lexicon) -> str:
    m = lex.yearly_name.search(sentence)
    if m is None:
        if lex.married.search(sentence):
            return "wedding anniversary"
        return "my birthday"  # "I was born on ..."
    name = " ".join(m.group(0).split())
    # "my mum's birthday" -> "mum's birthday"; "my birthday" stays as said.
    return re.sub(r"^(?:my|our|his|her|their)\s+(?=[\w-]+['’]s\s)", "", name, flags=re.I)


# --- content words, for matching a change to a plan --------------------------------

def _stem(word: str, lex: _Lexicon) -> str:
    w = re.sub(r"['’]s$", "", word.lower())
    w = lex.synonyms.get(w, w)
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    return lex.synonyms.get(w, w)


def _content(text: str, lex: _Lexicon) -> set[str]:
    words = re.findall(r"[\w'’-]+", text.lower())
    got = {_stem(w, lex) for w in words
           if re.sub(r"['’]s$", "", w) not in lex.stopwords and not w.isdigit()}
    # Words a change uses for a plan that its own text may lack: "the flight got
    # delayed" of "leave for Cancun", "the move is now on the 15th" of "moving flats".
    for tag, pattern in lex.implied:
        if pattern.search(text):
            got.add(tag)
    return got


# --- finding plans -------------------------------------------------------------------

def find_plans(text: str, *, now: datetime, plans: Sequence[PlanLike] = (),
               lang: str = "en") -> list[Found]:
    """The person's dated plans and yearly dates in one message said at ``now``.

    With ``plans`` (those already known), sentences that change one of them and
    plans already known (same content, same day) are left out.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    lex = _lexicon(lang)
    sentences = _sentences(text, lex, now, lang)
    found: list[Found] = []
    for i, s in enumerate(sentences):
        if s.when is None:
            continue
        if plans and _changes_in(s, now=now, plans=plans, lex=lex, lang=lang,
                                 context=" ".join(x.text for x in sentences[:i])):
            continue
        if s.when.day is None and s.when.instant is None and found \
                and found[-1].all_day and found[-1].kind == "plan" \
                and len(s.text.split()) <= 6 and not lex.question_start.search(s.text):
            # "Exam day is Thursday. Organic chemistry, 2pm." : the time of that plan.
            prev = found.pop()
            day = datetime.fromtimestamp(prev.due, now.tzinfo).date()
            moment = at_local(now, day, s.when.clock)
            found.append(Found(prev.text, moment.timestamp(), False, prev.kind,
                               f"{prev.phrase}, {s.when.phrase}", prev.sentence))
            continue
        s = _with_day_before(s, sentences[i - 1] if i else None)
        # The person may put themselves in someone's plan in the next sentence:
        # "My sister's getting married on Saturday! I'm a bridesmaid."
        nearby = " ".join(x.text for x in sentences[i:i + 2])
        got = _plan_in(s, now=now, lex=lex, people_in_it=lex.with_me.search(nearby) is not None,
                       before=sentences[i - 1].text if i else "")
        if got is None:
            continue
        if any(_same(got, p, lex, now) for p in plans if p.status == "upcoming"):
            continue
        found.append(got)
    return found


def _with_day_before(s: _Sentence, before: _Sentence | None) -> _Sentence:
    """A clock time alone takes the day of the sentence before: "tomorrow is more
    scary.. i have job interview at 10am"."""
    w, b = s.when, before.when if before else None
    if w is None or w.day is not None or w.instant is not None or b is None \
            or b.day is None or b.clock is not None:
        return s
    return _Sentence(s.text, When(b.day, w.clock, None, w.phrase, w.spans))


def _plan_in(s: _Sentence, *, now: datetime, lex: _Lexicon, people_in_it: bool,
             before: str = "") -> Found | None:
    assert s.when is not None
    clause = _clause(s, lex)
    ctext = s.text[clause[0]:clause[1]]
    if _is_question(s, clause, lex) or lex.hypothetical.search(s.text) \
            or lex.joke.search(s.text) or lex.cancel.search(s.text):
        return None
    if lex.yearly.search(s.text) or lex.born.search(s.text) or lex.married.search(s.text):
        if s.when.day is None:
            return None
        # A yearly date is its whole day, whatever time was said with it, and its
        # next occurrence even when told of a past one ("we met on 3 March 2020").
        day = _next_yearly(s.when.day, now.date())
        if day is None:
            return None
        moment = at_local(now, day, None)
        return Found(_describe_date(s.text, lex), moment.timestamp(), True, "date",
                     s.when.phrase, s.text)
    due: Due | None = due_of(s.when, now=now)
    if due is None:
        return None
    if _is_negated(ctext, lex) or _is_past(s, ctext, now, lex) or _not_an_event(s, clause, lex):
        return None
    if _someone_elses(ctext, lex) and not people_in_it:
        return None
    what = _describe(s, clause, lex, before)
    if not what:
        return None
    return Found(what, due.at, due.all_day, "plan", due.phrase, s.text)


def _not_an_event(s: _Sentence, clause: tuple[int, int], lex: _Lexicon) -> bool:
    """A wish, a habit, a state to be in, or a day only judged: no event to ask about."""
    ctext = s.text[clause[0]:clause[1]]
    if lex.modal.search(ctext) or lex.habit.search(ctext):
        return True
    # A state reads on past a clause break: "tomorrow is gonna be so busy".
    rest = s.text[clause[0]:]
    if lex.state.search(rest):
        return True
    assert s.when is not None
    for a, b in reversed(s.when.spans):
        if clause[0] <= a:
            rest = rest[:a - clause[0]] + rest[b - clause[0]:]
    for _ in range(3):
        rest = lex.lead_filler.sub("", rest.strip())
    return lex.day_state.match(rest.strip()) is not None


def _next_yearly(day: date, today: date) -> date | None:
    for year in range(today.year, today.year + 9):  # a leap day may be years ahead
        try:
            d = day.replace(year=year)
        except ValueError:
            continue
        if d >= today:
            return d
    return None


def _is_past(s: _Sentence, ctext: str, now: datetime, lex: _Lexicon) -> bool:
    assert s.when is not None and s.when.spans
    if lex.past.search(ctext) or lex.past_after.match(s.text[s.when.spans[-1][1]:]):
        return True
    # A clock time alone that has already gone by today ("dumped a report on me at
    # 4pm", said at 7pm) is the day's story, unless the words look ahead.
    w = s.when
    if w.day is None and w.instant is None and w.clock is not None \
            and at_local(now, now.date(), w.clock) <= now:
        return lex.future.search(ctext) is None
    return False


def _someone_elses(ctext: str, lex: _Lexicon) -> bool:
    """A clause whose subject is someone else: "my sister flies to Lisbon", "they said
    they'd call", "my friend's flight" (but "my cousin's wedding" is an event one attends)."""
    text = ctext.strip()
    for _ in range(3):
        text = lex.lead_filler.sub("", text).strip()
    if lex.other_subject.search(text):
        return True
    return _someone_elses_thing(text, lex)


def _someone_elses_thing(text: str, lex: _Lexicon) -> bool:
    m = lex.others_event.search(lex.lead_filler.sub("", text.strip()).strip())
    return m is not None and lex.attended.search(m["what"]) is None


def _same(f: Found, p: PlanLike, lex: _Lexicon, now: datetime) -> bool:
    """A plan told again: shared content and the same local day."""
    tz = now.tzinfo
    same_day = (datetime.fromtimestamp(f.due, tz).date()
                == datetime.fromtimestamp(p.due_at, tz).date())
    return same_day and bool(_content(f.text, lex) & _content(p.text, lex))


# --- finding changes -------------------------------------------------------------------

def find_changes(text: str, *, now: datetime, plans: Sequence[PlanLike],
                 lang: str = "en") -> list[Change]:
    """Cancellations and new dates for ``plans`` in one message said at ``now``."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    lex = _lexicon(lang)
    changes: dict[int | str, Change] = {}
    sentences = _sentences(text, lex, now, lang)
    for i, s in enumerate(sentences):
        context = " ".join(x.text for x in sentences[:i])
        for c in _changes_in(s, now=now, plans=plans, lex=lex, lang=lang, context=context):
            changes[c.plan_id] = c  # a later sentence has the last word
    return list(changes.values())


def _changes_in(s: _Sentence, *, now: datetime, plans: Sequence[PlanLike], lex: _Lexicon,
                lang: str, context: str = "") -> list[Change]:
    """The change one sentence makes; ``context`` (the message's sentences before it)
    names the plan when the sentence does not: "salon called. they moved me to thursday"."""
    upcoming = [p for p in plans if p.status == "upcoming"]
    if not upcoming:
        return []
    if lex.question_start.search(s.text) or s.text.rstrip().endswith("?") \
            or lex.hypothetical.search(s.text) or lex.joke.search(s.text):
        return []
    cancel = lex.cancel.search(s.text)
    move = lex.move.search(s.text)
    shift = find_shift(s.text, lang=lang)
    if not (cancel or move or shift):
        return []
    if _someone_elses_thing(s.text, lex):  # "my sister's flight got cancelled"
        return []
    if cancel and move and move.start() > cancel.start() \
            and read_when(s.text[move.start():], now=now, lang=lang) is not None:
        cancel = None  # "jess can't make it friday, we moved dinner to saturday"
    plan = _target(s.text, upcoming, lex, now, context)
    if plan is None:
        return []
    if cancel:
        return [Change(plan.id, "cancelled", None, None)]
    if shift is not None:
        old = datetime.fromtimestamp(plan.due_at, now.tzinfo)
        return [Change(plan.id, "upcoming", (old + shift).timestamp(), _all_day(plan))]
    assert move is not None
    # The new date follows the verb ("found out today they moved it to Friday").
    when = read_when(s.text[move.start():], now=now, lang=lang) or s.when
    if when is None:
        if lex.vague_move.search(s.text):  # postponed, no new date: not this date
            return [Change(plan.id, "cancelled", None, None)]
        return []
    later = lex.later.search(s.text) is not None
    due = _moved_due(plan, when, now, later=later)
    if due is None:
        return []
    return [Change(plan.id, "upcoming", due.at, due.all_day)]


def _all_day(plan: PlanLike) -> bool | None:
    value = getattr(plan, "all_day", None)
    return None if value is None else bool(value)


def _moved_due(plan: PlanLike, when: When, now: datetime, *, later: bool) -> Due | None:
    """The new due: a day alone keeps the old clock time, a time alone the old day.

    A plan delayed or pushed back to a weekday goes to that weekday after its old date
    ("delayed to Wednesday" of a trip next Tuesday is the day after it, not before).
    """
    old = datetime.fromtimestamp(plan.due_at, now.tzinfo)
    if later and when.day is not None and when.day < old.date() \
            and _WEEKDAY_WORD.search(when.phrase):
        day = when.day
        while day < old.date():
            day += timedelta(days=7)
        when = When(day, when.clock, None, when.phrase, when.spans)
    timed = _all_day(plan) is False or (_all_day(plan) is None
                                        and (old.hour, old.minute) != (0, 0))
    if when.instant is None and when.clock is None and timed:
        when = When(when.day, (old.hour, old.minute), None, when.phrase, when.spans)
    elif when.instant is None and when.day is None and when.clock is not None:
        when = When(old.date(), when.clock, None, when.phrase, when.spans)
    return due_of(when, now=now - timedelta(seconds=1))


def _target(sentence: str, upcoming: Sequence[PlanLike], lex: _Lexicon,
            now: datetime, context: str = "") -> PlanLike | None:
    """The plan a change speaks of: most shared content words, then the soonest.

    A sentence that names nothing ("they moved me to thursday") is read with the
    sentences before it; one that names something else ("I cancelled netflix") is not.
    """
    words = _content(sentence, lex)
    if not words - lex.change_words and context:
        words = _content(context, lex)
    scored = [(len(words & _content(p.text, lex)), p) for p in upcoming]
    best = max(score for score, _ in scored)
    if best == 0:
        if len(upcoming) == 1 and lex.pronoun.search(sentence):
            return upcoming[0]
        return None
    ties = [p for score, p in scored if score == best]
    return min(ties, key=lambda p: abs(p.due_at - now.timestamp()))

// The web client of chat-server: one WebSocket to /ws speaking the line protocol of
// docs/protocol.md, one text message per line each way. The page asks for a name (and a
// password when the server says the name is registered), then shows the room, its people
// and its lines. Lines typed are sent as typed, commands included, as on TCP; only the
// server's words decide what happened.
//
// Every piece of text from the server goes into the page as text (textContent, text
// nodes, DOM-built links), never as HTML.

'use strict';

// ---------------------------------------------------------------------------------------
// Settings

/** Reconnecting waits this long first, doubling after each failure up to the maximum. */
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 30000;

/** Lines kept in the log; older ones are dropped. */
const MAX_LOG_LINES = 2000;

/** Lines kept for Up/Down. */
const MAX_HISTORY = 200;

/** How close to the bottom (in pixels) still counts as "at the newest line". */
const BOTTOM_SLACK = 40;

/** How many name colours there are (.c0 to .c11 in app.css): the terminal client's palette. */
const NAME_COLOURS = 12;

/**
 * The server's commands, for Tab completion: their words and what follows the first
 * word ('none', 'text', 'name' or 'room'), as in the terminal client's table.
 */
const COMMANDS = [
  [['/who', '/members'], 'none'],
  [['/msg', '/w', '/whisper'], 'name'],
  [['/nick'], 'text'],
  [['/history'], 'text'],
  [['/register'], 'text'],
  [['/password'], 'text'],
  [['/unregister'], 'text'],
  [['/seen'], 'name'],
  [['/whois'], 'name'],
  [['/away'], 'text'],
  [['/back'], 'none'],
  [['/join'], 'room'],
  [['/create'], 'text'],
  [['/invite'], 'name'],
  [['/rekey'], 'none'],
  [['/topic'], 'text'],
  [['/kick'], 'name'],
  [['/ban'], 'name'],
  [['/unban'], 'text'],
  [['/bans'], 'none'],
  [['/stats'], 'none'],
  [['/wall'], 'text'],
  [['/rooms'], 'text'],
  [['/me'], 'text'],
  [['/help'], 'none'],
  [['/quit', '/exit', '/종료'], 'text'],
];

// ---------------------------------------------------------------------------------------
// Names, rooms and lines (pure functions)

/** One character of a name: a letter or digit of any script, `_` or `-`. */
const NAME = '[\\p{Alphabetic}\\p{N}_-]{1,32}';
const NAME_ONLY = new RegExp(`^${NAME}$`, 'u');
const ROOM = `#${NAME}`;
const TIME = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';

function isName(text) {
  return NAME_ONLY.test(text);
}

/** A name or room ignoring case, as the server compares rooms (and spells lists). */
function fold(name) {
  return name.normalize('NFC').toLowerCase();
}

/**
 * The key the terminal client colours a name by: the server's name key, the Unicode
 * skeleton of the name ignoring case. The page knows the skeleton's rules for ASCII
 * (`m` is `rn`, `0` is `o`, `1` is `l`) and for accents (decomposed), which covers
 * most names; other look-alike letters may get another colour than in the terminal.
 */
function nameKey(name) {
  return fold(name).normalize('NFD').replace(/m/g, 'rn').replace(/0/g, 'o')
    .replace(/1/g, 'l').toLowerCase();
}

const colourCache = new Map();

/** The palette index of a name: FNV-1a (64-bit) of its key's UTF-8, as the terminal's. */
function colourOf(name) {
  const key = nameKey(name);
  let colour = colourCache.get(key);
  if (colour === undefined) {
    let hash = 0xcbf29ce484222325n;
    for (const byte of new TextEncoder().encode(key)) {
      hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
    }
    colour = Number(hash % BigInt(NAME_COLOURS));
    colourCache.set(key, colour);
  }
  return colour;
}

/** `#ROOM (N): a, b (away), c (+N more)` into {room, count, names: [{name, away}]}. */
function parseMemberList(text) {
  const match = new RegExp(`^(${ROOM}) \\((\\d+)\\):(.*)$`, 'u').exec(text);
  if (!match) return null;
  let listed = match[3];
  if (listed !== '' && !listed.startsWith(' ')) return null;
  listed = listed.trim().replace(/ ?\(\+\d+ more\)$/u, '');
  const names = [];
  for (const item of listed === '' ? [] : listed.split(', ')) {
    const away = item.endsWith(' (away)');
    const name = away ? item.slice(0, -' (away)'.length) : item;
    if (!isName(name)) return null;
    names.push({ name, away });
  }
  return { room: match[1], count: Number(match[2]), names };
}

/** What follows `rooms:` into [{room, count, private}] (and how many more there are). */
function parseRoomList(text) {
  const more = /\(\+(\d+) more\)$/u.exec(text);
  const rooms = [];
  for (const match of text.matchAll(new RegExp(`(${ROOM}) \\((\\d+)(, private)?\\)`, 'gu'))) {
    rooms.push({ room: match[1], count: Number(match[2]), private: Boolean(match[3]) });
  }
  return { rooms, more: more ? Number(more[1]) : 0 };
}

/** The key in an invite link (`chat://HOST/ROOM?key=KEY`, `http://HOST/#ROOM?key=KEY`). */
function keyOfLink(link) {
  const match = /[?&]key=([A-Za-z0-9_-]+)/.exec(link);
  return match ? match[1] : null;
}

/**
 * Notices that start with a name, by what follows the name. Any other `* NAME TEXT` is
 * an action (`/me`): the server refuses actions that would read as one of these.
 */
const NAME_NOTICES = [
  ['joined', new RegExp(`^joined (${ROOM})$`, 'u')],
  ['left', new RegExp(`^left (${ROOM})$`, 'u')],
  ['renamed', new RegExp(`^is now (${NAME})$`, 'u')],
  ['quit', /^quit( \(.*\))?$/su],
  ['reconnected', /^reconnected$/u],
  ['invited', new RegExp(`^invites you to (${ROOM}): /join (${ROOM})( [A-Za-z0-9_-]+)?$`, 'u')],
  ['owner', new RegExp(`^now owns (${ROOM})$`, 'u')],
  ['topicSet', new RegExp(`^set the topic of (${ROOM}): (.*)$`, 'su')],
  ['topicCleared', new RegExp(`^cleared the topic of (${ROOM})$`, 'u')],
  ['kicked', new RegExp(`^was kicked by (${NAME})( \\(.*\\))?$`, 'su')],
  ['banned', /^was banned( \(.*\))?$/su],
  ['wall', /^to everyone: /u],
  ['ban', /^is banned until |^is no longer banned$/u],
  ['account', /^is no longer registered$|^is registered; from now on connect with "/u],
  ['offline', /^is offline; they will get your message when they return$/u],
  ['away', /^is away: /u],
  ['seen', new RegExp(`^is here(, in ${ROOM})?$|^was last seen ${TIME} \\(.*\\)$`, 'u')],
  ['whois', new RegExp(`^is (not )?registered, in .*, idle .*, connected since ${TIME}`, 'su')],
];

/** Notices that start with anything but a name (and `welcome`, which could be one). */
const OTHER_NOTICES = [
  ['greeting', /^hello! send your name/u],
  ['bye', /^bye$/u],
  ['shuttingDown', /^server shutting down$/u],
  ['topic', new RegExp(`^topic of (${ROOM}): (.*)$`, 'su')],
  ['privateRoom', new RegExp(`^(${ROOM}) (?:is private|has a new key); invite link: (.*)$`, 'su')],
  ['publicRoom', new RegExp(`^(${ROOM}) is public: anyone can /join `, 'u')],
  ['noTopic', new RegExp(`^(${ROOM}) has no topic$`, 'u')],
  ['registered', new RegExp(`^(${NAME}) is registered; from now on connect with "`, 'u')],
  ['passwordChanged', new RegExp(`^the password of (${NAME}) is changed$`, 'u')],
  ['unregistered', new RegExp(`^(${NAME}) is no longer registered$`, 'u')],
  ['other', new RegExp([
    '^stats: ', '^invitation to ', '^history of ', '^you are away: ', '^you are back$', '^/',
    '^\\d+ bans?$', '^no bans$', '^\\d+ messages? arrived while you were away$',
  ].join('|'), 'u')],
];

/** Reads the text of a notice (after `* `) into {type, ...what the page needs of it}. */
function parseNotice(text) {
  const welcome = new RegExp(`^welcome (${NAME}), you are in (.*)$`, 'su').exec(text);
  const list = welcome && parseMemberList(welcome[2]);
  if (list) return { type: 'welcome', name: welcome[1], list };
  if (text.startsWith('rooms:')) return { type: 'rooms', ...parseRoomList(text) };
  const members = text.startsWith('#') && parseMemberList(text);
  if (members) return { type: 'members', list: members };
  for (const [type, pattern] of OTHER_NOTICES) {
    const match = pattern.exec(text);
    if (match) return { type, match };
  }
  const space = text.indexOf(' ');
  const name = text.slice(0, space);
  const rest = text.slice(space + 1);
  if (space < 1 || !isName(name) || rest === '') return { type: 'other' };
  for (const [type, pattern] of NAME_NOTICES) {
    const match = pattern.exec(rest);
    if (match) return { type, name, match };
  }
  return { type: 'action', name, text: rest };
}

/**
 * Reads one line from the server into {kind, ...}: 'chat' {from, text}, 'private'
 * {from, to, text}, 'notice' {text, notice}, 'error' {text}, 'replay' {time, line} (a
 * line from the past, with its own time) or 'other' {text}.
 */
function parseLine(line) {
  if (line.startsWith('* ')) {
    return { kind: 'notice', text: line.slice(2), notice: parseNotice(line.slice(2)) };
  }
  if (line.startsWith('! ')) return { kind: 'error', text: line.slice(2) };
  const past = new RegExp(`^= (${TIME}) (.*)$`, 'su').exec(line);
  if (past && !past[2].startsWith('= ')) {
    return { kind: 'replay', time: new Date(past[1]), line: parseLine(past[2]) };
  }
  const colon = line.indexOf(': ');
  if (colon > 0) {
    const head = line.slice(0, colon);
    const text = line.slice(colon + 2);
    const arrow = head.indexOf(' -> ');
    if (arrow < 0 && isName(head)) return { kind: 'chat', from: head, text };
    const from = head.slice(0, arrow);
    const to = head.slice(arrow + 4);
    if (arrow > 0 && isName(from) && isName(to)) return { kind: 'private', from, to, text };
  }
  return { kind: 'other', text: line };
}

/** Whether `text` mentions `name` as a whole word, ignoring case. */
function mentions(text, name) {
  if (!name) return false;
  const haystack = fold(text);
  const needle = fold(name);
  const isWord = (char) => char !== undefined && /[\p{Alphabetic}\p{N}_-]/u.test(char);
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) {
    const before = [...haystack.slice(0, at)].pop();
    const after = [...haystack.slice(at + needle.length)][0];
    if (!isWord(before) && !isWord(after)) return true;
  }
  return false;
}

/** An invite in the page's own address: `#ROOM?key=KEY` (or just `#ROOM`). */
function parseInvite(hash) {
  let text;
  try {
    text = decodeURIComponent(hash.replace(/^#/, ''));
  } catch {
    return null; // A malformed address is no invite (and must not stop the page).
  }
  const [room, query] = text.split('?');
  if (!room || !isName(room)) return null;
  return { room: `#${room}`, key: new URLSearchParams(query || '').get('key') };
}

// ---------------------------------------------------------------------------------------
// Tab completion (as the terminal client's: commands, names, rooms after /join)

/** The command a line starts with, and what its first argument is. */
function commandOf(word) {
  const lower = word.toLowerCase();
  const found = COMMANDS.find(([words]) => words.includes(lower));
  return found ? found[1] : null;
}

function startsWithIgnoringCase(candidate, prefix) {
  return candidate.toLowerCase().startsWith(prefix.toLowerCase());
}

/**
 * Completes the text before the caret: returns where the replaced word starts and the
 * candidates, each with what follows it (a space, or `: ` after a name that starts the
 * line).
 */
function complete(before, known) {
  const start = before.search(/\S*$/u);
  const word = before.slice(start);
  const head = before.slice(0, start);
  const matching = (names, suffix) =>
    names.filter((name) => startsWithIgnoringCase(name, word)).map((name) => name + suffix);
  if (head === '') {
    if (word.startsWith('/') && !word.startsWith('//')) {
      return {
        start,
        candidates: COMMANDS.flatMap(([words, arg]) =>
          words.filter((command) => startsWithIgnoringCase(command, word))
            .map((command) => command + (arg === 'none' ? '' : ' '))),
      };
    }
    return { start, candidates: matching(known.names, ': ') };
  }
  const words = head.trim().split(/\s+/u);
  const arg = words.length === 1 && words[0].startsWith('/') ? commandOf(words[0]) : 'text';
  if (arg === 'name') return { start, candidates: matching(known.recipients, ' ') };
  if (arg === 'room') {
    const rooms = known.rooms.filter((room) =>
      startsWithIgnoringCase(room, word) || startsWithIgnoringCase(room.slice(1), word));
    return { start, candidates: rooms.map((room) => `${room} `) };
  }
  if (arg === 'none') return { start, candidates: [] };
  return { start, candidates: matching(known.names, ' ') };
}

// ---------------------------------------------------------------------------------------
// State

const state = {
  socket: null,
  /** Whether this connection was welcomed (the name accepted). */
  joined: false,
  /** Whether any connection was: from then on a lost one is reconnected. */
  everJoined: false,
  /** Set after `* bye` and the like: the page doesn't reconnect. */
  stopped: false,
  /** The name asked for, then the one the server knows; the password, in memory only. */
  name: '',
  password: '',
  /** Whether the user is waiting on the login form for an answer. */
  loggingIn: false,
  room: '#lobby',
  roomKey: null,
  private: false,
  topic: '',
  /** People in the room: fold(name) -> {name, away}; and how many the server counted. */
  members: new Map(),
  memberCount: 0,
  rooms: [],
  /** People we exchanged private messages with, the most recent first. */
  correspondents: [],
  /** An invite to follow once the name is accepted. */
  invite: parseInvite(location.hash),
  /** Keys and passwords from lines typed, until the server confirms them. */
  pendingKeys: new Map(),
  pendingPassword: null,
  /** `/rooms` sent by the page itself, whose answers only update the list. */
  quietRooms: 0,
  retryMs: RETRY_FIRST_MS,
  retryTimer: null,
  history: [],
  historyAt: 0,
  draft: '',
  completion: null,
  unread: 0,
  /** Whether the log is scrolled to its newest line, and how many lines came below. */
  atNewest: true,
  newBelow: 0,
  notifications: false,
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------
// Drawing lines

/** Appends `text` to `parent` as text, with its http(s) URLs as links. */
function appendText(parent, text) {
  let last = 0;
  for (const match of text.matchAll(/\bhttps?:\/\/[^\s<>"]+/giu)) {
    // Punctuation that ends a sentence is not part of the link.
    const url = match[0].replace(/[.,;:!?'")\]}]+$/u, '');
    parent.append(text.slice(last, match.index), makeLink(url));
    last = match.index + url.length;
  }
  parent.append(text.slice(last));
}

/** A link that opens in a new tab, unless it is an invite to this page: that joins here. */
function makeLink(url) {
  const link = document.createElement('a');
  link.textContent = url;
  try {
    const target = new URL(url);
    link.href = target.href;
    link.rel = 'noopener noreferrer';
    link.target = '_blank';
    const invite = target.origin === location.origin && parseInvite(target.hash);
    if (invite) {
      link.addEventListener('click', (event) => {
        event.preventDefault();
        joinInvite(invite);
      });
    }
  } catch {
    return document.createTextNode(url);
  }
  return link;
}

function span(className, text) {
  const element = document.createElement('span');
  element.className = className;
  appendText(element, text);
  return element;
}

function nameSpan(name) {
  const element = document.createElement('span');
  element.className = `name c${colourOf(name)}`;
  element.textContent = name;
  return element;
}

function twoDigits(number) {
  return String(number).padStart(2, '0');
}

/** `HH:MM` today, `Mon DD HH:MM` before, in local time. */
function stamp(date) {
  const time = document.createElement('time');
  time.className = 'stamp';
  time.dateTime = date.toISOString();
  time.title = date.toLocaleString();
  const today = new Date().toDateString() === date.toDateString();
  const clock = `${twoDigits(date.getHours())}:${twoDigits(date.getMinutes())}`;
  const day = date.toLocaleDateString(undefined, { month: 'short', day: '2-digit' });
  time.textContent = today ? clock : `${day} ${clock}`;
  return time;
}

/** The class of one parsed line's kind, and its parts. */
function render(parsed) {
  switch (parsed.kind) {
    case 'chat':
      return ['chat', [nameSpan(parsed.from), ': ', span('text', parsed.text)]];
    case 'private':
      return ['private', [span('tag', 'private'), nameSpan(parsed.from), ' -> ',
        nameSpan(parsed.to), ': ', span('text', parsed.text)]];
    case 'notice':
      if (parsed.notice.type === 'action') {
        return ['action', ['• ', nameSpan(parsed.notice.name), ' ',
          span('text', parsed.notice.text)]];
      }
      return ['notice', [span('text', `* ${parsed.text}`)]];
    case 'error':
      return ['error', [span('text', `! ${parsed.text}`)]];
    case 'local':
      return ['local', [span('text', parsed.text)]];
    default:
      return ['other', [span('text', parsed.text)]];
  }
}

/**
 * Shows one line in the log: a parsed server line, our own chat, or the page's own
 * words ({kind: 'local', text}). `mark` adds classes ('own', 'mention', 'error').
 */
function show(parsed, mark = '') {
  const line = document.createElement('div');
  const past = parsed.kind === 'replay';
  const shown = past ? parsed.line : parsed;
  const [kind, parts] = render(shown);
  line.className = `line ${kind} ${past ? 'replayed' : ''} ${mark}`.trim();
  line.append(stamp(past ? parsed.time : new Date()), ' ', ...parts);
  appendToLog(line);
}

function showLocal(text, isError = false) {
  show({ kind: 'local', text }, isError ? 'error' : '');
}

function atNewest() {
  const log = $('log');
  return log.scrollHeight - log.scrollTop - log.clientHeight < BOTTOM_SLACK;
}

/** Adds a line at the bottom, staying there unless the reader scrolled up. */
function appendToLog(line) {
  const log = $('log');
  const atBottom = atNewest();
  log.append(line);
  while (log.childElementCount > MAX_LOG_LINES) log.firstElementChild.remove();
  if (atBottom) {
    log.scrollTop = log.scrollHeight;
  } else {
    state.newBelow += 1;
    $('news').textContent = `${state.newBelow} new`;
    $('news').hidden = false;
  }
}

function scrollToNewest() {
  const log = $('log');
  log.scrollTop = log.scrollHeight;
  state.newBelow = 0;
  $('news').hidden = true;
}

function onLogScroll() {
  state.atNewest = atNewest();
  if (state.atNewest) {
    state.newBelow = 0;
    $('news').hidden = true;
  }
}

// ---------------------------------------------------------------------------------------
// Drawing the room: name, topic, people, rooms, status, title

function drawRoom() {
  $('room-name').textContent = state.everJoined ? state.room : 'chat';
  $('private-badge').hidden = !state.private;
  const topic = $('topic');
  topic.replaceChildren();
  appendText(topic, state.topic);
  topic.title = state.topic;
  topic.hidden = state.topic === '';
  drawTitle();
}

function drawTitle() {
  const unread = state.unread > 0 ? `(${state.unread}) ` : '';
  document.title = state.everJoined ? `${unread}${state.room} - chat` : 'chat';
}

function drawMembers() {
  const list = $('members');
  const names = [...state.members.values()]
    .sort((a, b) => fold(a.name).localeCompare(fold(b.name)));
  list.replaceChildren(...names.map(({ name, away }) => {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'person';
    button.title = `Mention ${name}`;
    button.append(nameSpan(name));
    if (fold(name) === fold(state.name)) button.append(span('you', ' (you)'));
    if (away) button.append(span('away', ' (away)'));
    button.addEventListener('click', () => insertMention(name));
    item.append(button);
    return item;
  }));
  const count = Math.max(state.memberCount, state.members.size);
  $('member-count').textContent = `(${count})`;
  // The room list's count of our own room is the one we know best.
  const here = state.rooms.find((listed) => fold(listed.room) === fold(state.room));
  if (here && here.count !== count) {
    here.count = count;
    drawRooms();
  }
}

function drawRooms() {
  const list = $('rooms');
  list.replaceChildren(...state.rooms.map(({ room, count, private: isPrivate }) => {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'room';
    button.textContent = `${room} (${count}${isPrivate ? ', private' : ''})`;
    if (fold(room) === fold(state.room)) button.setAttribute('aria-current', 'true');
    button.addEventListener('click', () => send(`/join ${room}`));
    item.append(button);
    return item;
  }));
}

/** The status button: 'online', 'connecting' or 'offline' (clicking it connects at once). */
function setStatus(status, text = status) {
  const button = $('status');
  button.dataset.state = status;
  button.textContent = text;
  button.disabled = status !== 'offline' || !state.everJoined;
  button.title = button.disabled ? '' : 'Click to connect now';
}

// ---------------------------------------------------------------------------------------
// The connection

function socketUrl() {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}

function connect() {
  clearTimeout(state.retryTimer);
  state.retryTimer = null;
  if (state.socket) return;
  const socket = new WebSocket(socketUrl());
  state.socket = socket;
  state.joined = false;
  $('status').hidden = false;
  setStatus('connecting', 'connecting…');
  socket.addEventListener('message', (event) => {
    if (state.socket === socket) receive(String(event.data));
  });
  socket.addEventListener('close', () => {
    if (state.socket === socket) lost();
  });
}

function isOnline() {
  return state.joined && state.socket !== null && state.socket.readyState === WebSocket.OPEN;
}

/** Sends a line if connected and welcomed; says so if not. */
function send(line) {
  if (!isOnline()) {
    showLocal('offline: not sent', true);
    return false;
  }
  state.socket.send(line);
  return true;
}

/** The connection is gone: come back after a while, unless told not to. */
function lost() {
  const wasJoined = state.joined;
  state.socket = null;
  state.joined = false;
  if (state.stopped) {
    if (wasJoined) showLocal('disconnected: "join again" at the top comes back', true);
    setStatus('offline', 'join again');
    return;
  }
  if (!state.everJoined) {
    // Still at the login form: the next Join connects again.
    setStatus('offline');
    if (state.loggingIn) loginFailed('no connection to the server; try again');
    return;
  }
  const seconds = state.retryMs / 1000;
  if (wasJoined) showLocal(`offline: the connection was lost; reconnecting in ${seconds} s`, true);
  setStatus('offline');
  $('status').title = `Reconnecting in ${seconds} s; click to try now`;
  state.retryTimer = setTimeout(connect, state.retryMs);
  state.retryMs = Math.min(state.retryMs * 2, RETRY_MAX_MS);
}

/** Connects at once (the status button, the system saying the network is back). */
function retryNow() {
  if (!state.socket && state.everJoined) {
    state.stopped = false;
    state.retryMs = RETRY_FIRST_MS;
    connect();
  }
}

/** The first words on a connection: the name, with its password if one was given. */
function sendName() {
  state.socket.send(state.password ? `${state.name} ${state.password}` : state.name);
}

function receive(line) {
  const parsed = parseLine(line);
  if (!state.joined) {
    handshake(parsed);
    return;
  }
  observe(parsed);
  if (parsed.kind === 'notice' && parsed.notice.type === 'rooms' && state.quietRooms > 0) {
    state.quietRooms -= 1;
    return;
  }
  showWithAttention(parsed);
}

/** Lines before the welcome: the greeting, then the welcome or why the name was refused. */
function handshake(parsed) {
  const type = parsed.kind === 'notice' ? parsed.notice.type : null;
  if (type === 'greeting') {
    setStatus('connecting', 'connected');
    sendName();
  } else if (type === 'welcome') {
    welcomed(parsed);
  } else if (parsed.kind === 'error') {
    refused(parsed.text);
  }
}

function welcomed(parsed) {
  const { name, list } = parsed.notice;
  const rejoin = state.everJoined && fold(list.room) !== fold(state.room)
    ? { room: state.room, key: state.roomKey } : null;
  state.joined = true;
  state.everJoined = true;
  state.loggingIn = false;
  state.retryMs = RETRY_FIRST_MS;
  state.name = name;
  rememberName(name);
  // A registered name taken back from an open connection comes back in its room.
  enterRoom(list.room, fold(list.room) === fold(state.room) ? state.roomKey : null);
  setMembers(list);
  showChat();
  setStatus('online');
  drawNotifyButton();
  show(parsed);
  const invite = state.invite || rejoin;
  state.invite = null;
  if (invite) joinInvite(invite);
  askRooms();
}

/** Refusals after which the server closes the connection. */
const CLOSING = new RegExp(['^you are banned', '^too many wrong passwords',
  '^no name received in time', '^server full', '^too many connections'].join('|'), 'u');

/** A refused name, or a refusal that closes the connection (the reconnect follows). */
function refused(text) {
  if (/^you are banned/u.test(text)) state.stopped = true;
  if (state.everJoined) showLocal(`! ${text}`, true);
  if (CLOSING.test(text)) {
    if (!state.everJoined) loginFailed(text);
    return;
  }
  // A password given for a name that is no longer registered (a server without its
  // store): the name alone, then.
  if (state.password && /^invalid name ".* .*": it contains a space/su.test(text)) {
    state.password = '';
    sendName();
    return;
  }
  const registered = /^(.*) is registered: send "/u.exec(text);
  const wrong = /^wrong password for (.*)$/u.exec(text);
  if (registered || wrong) {
    askPassword((registered || wrong)[1], wrong ? text : null);
  } else {
    loginFailed(text);
  }
}

/** Joins a room we were invited to (or were in before a reconnect). */
function joinInvite(invite) {
  if (fold(invite.room) === fold(state.room)) return;
  if (invite.key) state.pendingKeys.set(fold(invite.room), invite.key);
  send(invite.key ? `/join ${invite.room} ${invite.key}` : `/join ${invite.room}`);
}

/** `/rooms`, to refresh the list without showing its answer. */
function askRooms() {
  if (isOnline() && send('/rooms')) state.quietRooms += 1;
}

// ---------------------------------------------------------------------------------------
// What lines change

function setMembers(list) {
  if (fold(list.room) !== fold(state.room)) return;
  state.members = new Map(list.names.map((member) => [fold(member.name), member]));
  state.memberCount = list.count;
  drawMembers();
}

function addMember(name) {
  if (!state.members.has(fold(name))) {
    state.members.set(fold(name), { name, away: false });
    state.memberCount += 1;
  }
  drawMembers();
}

function removeMember(name) {
  if (state.members.delete(fold(name))) state.memberCount = Math.max(0, state.memberCount - 1);
  drawMembers();
}

function renameMember(old, name) {
  const member = state.members.get(fold(old));
  if (member) {
    state.members.delete(fold(old));
    state.members.set(fold(name), { ...member, name });
  }
  state.correspondents = state.correspondents
    .map((known) => (fold(known) === fold(old) ? name : known));
  drawMembers();
}

/** We are in `room` now (with `key`, if we know it); the server says the rest next. */
function enterRoom(room, key) {
  state.room = room;
  state.roomKey = key;
  state.private = false;
  state.topic = '';
  state.members = new Map([[fold(state.name), { name: state.name, away: false }]]);
  state.memberCount = 1;
  drawRoom();
  drawMembers();
  drawRooms();
  updateAddress();
}

/** Keeps the address bar on the room, key and all: a reload comes back here. */
function updateAddress() {
  const bare = state.room.slice(1);
  const key = state.roomKey ? `?key=${state.roomKey}` : '';
  const hash = fold(state.room) === '#lobby' ? '' : `#${bare}${key}`;
  if (location.hash !== hash) {
    history.replaceState(null, '', hash || location.pathname + location.search);
  }
}

function isMe(name) {
  return fold(name) === fold(state.name);
}

/** Learns from a line after the welcome: room, people, topic, keys, our name. */
function observe(parsed) {
  if (parsed.kind === 'chat') addMember(parsed.from);
  if (parsed.kind === 'private') {
    const other = isMe(parsed.from) ? parsed.to : parsed.from;
    if (!isMe(other)) {
      const rest = state.correspondents.filter((known) => fold(known) !== fold(other));
      state.correspondents = [other, ...rest];
    }
  }
  if (parsed.kind === 'error') refusedAfterWelcome(parsed.text);
  if (parsed.kind === 'notice') observeNotice(parsed.notice);
}

function refusedAfterWelcome(text) {
  if (/^(you are banned|.* logged in from elsewhere$)/u.test(text)) state.stopped = true;
  state.pendingPassword = null;
}

function observeNotice(notice) {
  const { type, name, match } = notice;
  const inRoom = (room) => fold(room) === fold(state.room);
  switch (type) {
    case 'members': setMembers(notice.list); break;
    case 'rooms': state.rooms = notice.rooms; drawRooms(); break;
    case 'joined':
      if (isMe(name)) {
        enterRoom(match[1], state.pendingKeys.get(fold(match[1])) || null);
        state.pendingKeys.clear();
        askRooms();
      } else if (inRoom(match[1])) {
        addMember(name);
      }
      break;
    case 'left': if (inRoom(match[1])) removeMember(name); break;
    case 'quit': case 'banned': removeMember(name); break;
    case 'kicked':
      // Kicked out of a room, we are moved to #lobby; kicked out of #lobby, disconnected.
      if (!isMe(name)) removeMember(name);
      else if (fold(state.room) === '#lobby') state.stopped = true;
      break;
    case 'renamed': renamed(name, match[1]); break;
    case 'topic': if (inRoom(match[1])) setTopic(match[2]); break;
    case 'topicSet': if (inRoom(match[1])) setTopic(match[2]); break;
    case 'topicCleared': if (inRoom(match[1])) setTopic(''); break;
    case 'noTopic': if (inRoom(match[1])) setTopic(''); break;
    case 'privateRoom':
      if (inRoom(match[1])) {
        state.private = true;
        state.roomKey = keyOfLink(match[2]) || state.roomKey;
        drawRoom();
        updateAddress();
      }
      break;
    case 'publicRoom': if (inRoom(match[1])) { state.private = false; drawRoom(); } break;
    case 'registered': if (isMe(match[1])) usePendingPassword(); break;
    case 'passwordChanged': if (isMe(match[1])) usePendingPassword(); break;
    case 'unregistered': if (isMe(match[1])) state.password = ''; break;
    case 'bye': state.stopped = true; break;
    default: break;
  }
}

function renamed(old, name) {
  if (isMe(old)) {
    state.name = name;
    rememberName(name);
    const pending = state.pendingPassword;
    // `/nick NEW PASSWORD` logs in to NEW: that password is the one for reconnecting.
    // Another case of the same name keeps its password; another name has none.
    if (pending && fold(pending.name) === fold(name)) {
      state.password = pending.password;
    } else if (fold(old) !== fold(name)) {
      state.password = '';
    }
    state.pendingPassword = null;
  }
  renameMember(old, name);
}

function usePendingPassword() {
  if (state.pendingPassword) state.password = state.pendingPassword.password;
  state.pendingPassword = null;
}

function setTopic(text) {
  state.topic = text;
  drawRoom();
}

/** Notes what a typed line asks for, so the server's answer can be understood. */
function noteSent(line) {
  const words = line.trim().split(/\s+/u);
  const command = words[0].toLowerCase();
  if (command === '/join' && words.length === 3) {
    const room = words[1].startsWith('#') ? words[1] : `#${words[1]}`;
    state.pendingKeys.set(fold(room), words[2]);
  } else if (command === '/nick' && words.length === 3) {
    state.pendingPassword = { name: words[1], password: words[2] };
  } else if (command === '/register' && words.length === 2) {
    state.pendingPassword = { name: state.name, password: words[1] };
  } else if (command === '/password' && words.length === 3) {
    state.pendingPassword = { name: state.name, password: words[2] };
  }
}

// ---------------------------------------------------------------------------------------
// Attention: mentions, private messages, the unread count, notifications

function showWithAttention(parsed) {
  const from = parsed.kind === 'chat' || parsed.kind === 'private' ? parsed.from
    : parsed.kind === 'notice' && parsed.notice.type === 'action' ? parsed.notice.name : null;
  const text = parsed.kind === 'notice' ? parsed.notice.text : parsed.text;
  const others = from !== null && !isMe(from);
  const mention = others && parsed.kind !== 'private' && mentions(text, state.name);
  show(parsed, mention ? 'mention' : '');
  if (others && document.hidden) {
    state.unread += 1;
    drawTitle();
  }
  if (mention || (others && parsed.kind === 'private')) notify(from, text);
}

function notify(from, text) {
  if (!state.notifications || (document.hasFocus() && !document.hidden)) return;
  try {
    const notification = new Notification(`${from} in ${state.room}`, { body: text, tag: 'chat' });
    notification.addEventListener('click', () => {
      window.focus();
      notification.close();
    });
  } catch {
    // Some browsers (Chrome on Android) notify only from a service worker: no notification.
  }
}

/** Asks for permission to notify (a button's click: browsers ask only on a gesture). */
function askNotifications() {
  Notification.requestPermission().then((permission) => {
    state.notifications = permission === 'granted';
    drawNotifyButton();
  });
}

function drawNotifyButton() {
  const button = $('notify');
  const possible = 'Notification' in window && window.isSecureContext;
  button.hidden = !possible || !state.everJoined || Notification.permission === 'denied';
  state.notifications = possible && Notification.permission === 'granted';
  button.textContent = state.notifications ? 'Notifying of mentions' : 'Notify me of mentions';
  button.disabled = state.notifications;
}

function onVisibilityChange() {
  if (!document.hidden) {
    state.unread = 0;
    drawTitle();
  }
}

// ---------------------------------------------------------------------------------------
// Login

function rememberName(name) {
  try {
    localStorage.setItem('chat.name', name);
  } catch {
    // Storage may be off; the name is only a convenience.
  }
}

function storedName() {
  try {
    return localStorage.getItem('chat.name') || '';
  } catch {
    return '';
  }
}

function onLogin(event) {
  event.preventDefault();
  const name = $('name').value.trim();
  if (name === '') {
    loginFailed('type a name first');
    return;
  }
  state.name = name;
  state.password = $('password-row').hidden ? '' : $('password').value;
  state.loggingIn = true;
  state.stopped = false;
  $('login-message').hidden = true;
  $('login-button').disabled = true;
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    sendName();
  } else {
    connect();
  }
}

/** Says something under the login form: an error (`isError`), or what to do next. */
function loginMessage(text, isError) {
  const message = $('login-message');
  message.textContent = text;
  message.className = isError ? 'error' : 'hint';
  message.hidden = false;
}

function loginFailed(text) {
  state.loggingIn = false;
  state.password = '';
  $('login-button').disabled = false;
  loginMessage(text, true);
  showLogin();
  $('name').focus();
}

/** The name is registered: ask for its password (again, after `error`). */
function askPassword(name, error) {
  state.loggingIn = false;
  state.password = '';
  showLogin();
  $('login-button').disabled = false;
  $('password-row').hidden = false;
  $('password-label').textContent = `Password for ${name}`;
  $('password').value = '';
  loginMessage(error || `${name} is registered: type its password`, Boolean(error));
  $('password').focus();
}

function showLogin() {
  $('login').hidden = false;
  $('chat').hidden = true;
  $('side-toggle').hidden = true;
}

function showChat() {
  $('login').hidden = true;
  $('chat').hidden = false;
  $('side-toggle').hidden = false;
  $('password-row').hidden = true;
  $('input').focus();
}

// ---------------------------------------------------------------------------------------
// The input line: sending, history, completion

function onSend(event) {
  event.preventDefault();
  const input = $('input');
  const line = input.value;
  if (line.trim() === '') return;
  if (!send(line)) return;
  noteSent(line);
  remember(line);
  input.value = '';
  hideCompletions();
  // The server never sends our own chat back to us: show it as the room sees it.
  if (!line.startsWith('/') || line.startsWith('//')) {
    const text = line.startsWith('//') ? line.slice(1) : line;
    show({ kind: 'chat', from: state.name, text }, 'own');
    scrollToNewest();
  }
}

function remember(line) {
  if (state.history[state.history.length - 1] !== line) state.history.push(line);
  if (state.history.length > MAX_HISTORY) state.history.shift();
  state.historyAt = state.history.length;
  state.draft = '';
}

/** Up and Down walk through the lines sent, the line being typed kept as the last. */
function walkHistory(step) {
  const input = $('input');
  const at = state.historyAt + step;
  if (at < 0 || at > state.history.length) return;
  if (state.historyAt === state.history.length) state.draft = input.value;
  state.historyAt = at;
  input.value = at === state.history.length ? state.draft : state.history[at];
  input.setSelectionRange(input.value.length, input.value.length);
}

function known() {
  const others = [...state.members.values()].map((member) => member.name)
    .filter((name) => !isMe(name));
  const byFold = new Map([...others, ...state.correspondents].map((name) => [fold(name), name]));
  const names = [...byFold.values()]
    .sort((a, b) => fold(a).localeCompare(fold(b)));
  const recipients = [...state.correspondents,
    ...names.filter((name) => !state.correspondents.some((known) => fold(known) === fold(name)))];
  const rooms = [...new Set([state.room, ...state.rooms.map((listed) => listed.room)])];
  return { names, recipients, rooms };
}

/** Tab: the next candidate for the word before the caret (Shift+Tab: the one before). */
function onTab(event) {
  const input = $('input');
  if (!state.completion) {
    if (input.value === '') return; // An empty line: Tab moves the focus, as anywhere.
    const before = input.value.slice(0, input.selectionStart);
    const { start, candidates } = complete(before, known());
    if (candidates.length === 0) return;
    const after = input.value.slice(input.selectionStart);
    state.completion = { start, candidates, index: -1, after };
  }
  event.preventDefault();
  const completion = state.completion;
  const count = completion.candidates.length;
  if (completion.index < 0) {
    completion.index = event.shiftKey ? count - 1 : 0;
  } else {
    completion.index = (completion.index + (event.shiftKey ? count - 1 : 1)) % count;
  }
  const chosen = completion.candidates[completion.index];
  input.value = input.value.slice(0, completion.start) + chosen + completion.after;
  const caret = completion.start + chosen.length;
  input.setSelectionRange(caret, caret);
  const hint = $('hint');
  hint.textContent = count > 1 ? completion.candidates.join('  ') : '';
  hint.hidden = count < 2;
}

function hideCompletions() {
  state.completion = null;
  $('hint').hidden = true;
}

function onInputKey(event) {
  if (event.key === 'Tab' && !event.altKey && !event.ctrlKey && !event.metaKey) {
    onTab(event);
    return;
  }
  if (event.key === 'Shift') return;
  hideCompletions();
  if (event.key === 'ArrowUp') {
    event.preventDefault();
    walkHistory(-1);
  } else if (event.key === 'ArrowDown') {
    event.preventDefault();
    walkHistory(1);
  }
}

function insertMention(name) {
  const input = $('input');
  input.value = input.value === '' ? `${name}: ` : `${input.value.replace(/\s*$/u, ' ')}${name} `;
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
  closeSide();
}

// ---------------------------------------------------------------------------------------
// The side panel (people and rooms), a drawer on narrow screens

function toggleSide() {
  const open = !document.body.classList.contains('side-open');
  document.body.classList.toggle('side-open', open);
  $('side-toggle').setAttribute('aria-expanded', String(open));
  if (open) {
    askRooms();
    $('side').querySelector('button')?.focus();
  }
}

function closeSide() {
  if (!document.body.classList.contains('side-open')) return;
  document.body.classList.remove('side-open');
  $('side-toggle').setAttribute('aria-expanded', 'false');
  if ($('side').contains(document.activeElement)) $('input').focus();
}

// ---------------------------------------------------------------------------------------
// Start

function onHashChange() {
  const invite = parseInvite(location.hash);
  if (invite && state.joined) joinInvite(invite);
}

function start() {
  $('name').value = storedName();
  if (state.invite) {
    $('invite-hint').textContent = `You are invited to ${state.invite.room}.`;
    $('invite-hint').hidden = false;
  }
  $('login-form').addEventListener('submit', onLogin);
  $('send').addEventListener('submit', onSend);
  $('input').addEventListener('keydown', onInputKey);
  $('input').addEventListener('input', hideCompletions);
  $('log').addEventListener('scroll', onLogScroll);
  // A phone's keyboard opening makes the log shorter: stay at the newest line.
  new ResizeObserver(() => {
    if (state.atNewest) $('log').scrollTop = $('log').scrollHeight;
  }).observe($('log'));
  $('news').addEventListener('click', () => {
    scrollToNewest();
    $('input').focus();
  });
  $('status').addEventListener('click', retryNow);
  $('notify').addEventListener('click', askNotifications);
  $('side-toggle').addEventListener('click', toggleSide);
  $('rooms-refresh').addEventListener('click', askRooms);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeSide();
  });
  document.addEventListener('visibilitychange', onVisibilityChange);
  window.addEventListener('hashchange', onHashChange);
  window.addEventListener('online', retryNow);
  drawNotifyButton();
  setStatus('offline');
  $('name').focus();
}

start();

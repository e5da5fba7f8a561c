// rtcstack's conference page (L5-L7): the pre-call check, the group call through Janus (video room for video,
// audio bridge for audio, text room for chat) and the chat-only mode of iOS. Served from the edge's origin:
// the page's API, Janus' API and the TURN relays are all reached through it, with short-lived credentials.
"use strict";

const CONFIG = JSON.parse(document.getElementById("conference-config").textContent);
const TEXT = JSON.parse(document.getElementById("conference-text").textContent);
const PLUGIN = {
  videoroom: "janus.plugin.videoroom", audiobridge: "janus.plugin.audiobridge", textroom: "janus.plugin.textroom",
  echotest: "janus.plugin.echotest", streaming: "janus.plugin.streaming",
};
const $ = (id) => document.getElementById(id);
const say = (message, values = {}) => message.replace(/%\((\w+)\)s/g, (_, key) => values[key] ?? "");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const randomId = () => Math.random().toString(36).slice(2, 12);

// --- the page's own API -------------------------------------------------------------------------------------

async function api(path, body) {
  const response = await fetch(CONFIG.api + path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) {
    const reason = reply.detail || (reply.errors || []).join("; ") || `HTTP ${response.status}`;
    throw new Error(reason);
  }
  return reply;
}

// --- Janus over its HTTP API (long polls) -------------------------------------------------------------------

class Janus {
  constructor(base, token) {
    this.base = base;
    this.token = token;
    this.events = [];
    this.waiters = new Set();
    this.listeners = new Map();
    this.closed = false;
  }

  async request(path, body) {
    const payload = { ...body, transaction: randomId(), token: this.token };
    const response = await fetch(this.base + path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
    const reply = await response.json();
    if (reply.janus === "error") throw new Error(`Janus ${reply.error.code}: ${reply.error.reason}`);
    const data = reply.plugindata?.data;
    if (data?.error_code) throw new Error(`Janus ${data.error_code}: ${data.error}`);
    return reply;
  }

  async create() {
    this.id = (await this.request("", { janus: "create" })).data.id;
    this.poll();
    return this;
  }

  async attach(plugin) {
    return (await this.request(`/${this.id}`, { janus: "attach", plugin })).data.id;
  }

  message(handle, body, jsep) {
    return this.request(`/${this.id}/${handle}`, jsep ? { janus: "message", body, jsep } : { janus: "message", body });
  }

  on(handle, listener) { this.listeners.set(handle, listener); }

  async poll() {
    while (!this.closed) {
      try {
        const url = `${this.base}/${this.id}?maxev=10&rid=${Date.now()}&token=${encodeURIComponent(this.token)}`;
        const reply = await (await fetch(url)).json();
        for (const event of Array.isArray(reply) ? reply : [reply]) {
          if (event.janus === "keepalive") continue;
          if (event.janus === "error" && event.error?.code === 458) { this.closed = true; break; }
          this.dispatch(event);
        }
      } catch (error) {
        await sleep(1000);
      }
    }
  }

  // An event goes to the first waiter it satisfies; otherwise it is kept (a waiter registered a moment later
  // finds it) and shown to its handle's listener.
  dispatch(event) {
    for (const waiter of this.waiters) if (waiter(event)) return;
    this.events.push(event);
    if (this.events.length > 200) this.events.shift();
    this.listeners.get(event.sender)?.(event);
  }

  // The first event (received already and not consumed, or still to come) that satisfies `test`.
  waitFor(test, timeoutMs = 20000) {
    const index = this.events.findIndex(test);
    if (index >= 0) {
      const event = this.events.splice(index, 1)[0];
      const data = event.plugindata?.data;
      return data?.error_code ? Promise.reject(new Error(`Janus ${data.error_code}: ${data.error}`))
                              : Promise.resolve(event);
    }
    return new Promise((resolve, reject) => {
      const waiter = (event) => {
        if (!test(event)) return false;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        const data = event.plugindata?.data;
        if (data?.error_code) reject(new Error(`Janus ${data.error_code}: ${data.error}`));
        else resolve(event);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no answer from the conference server in ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  // Leaving the page: end the session now (its feeds and seats go at once, not after Janus' session timeout).
  destroySoon() {
    if (this.closed || !this.id) return;
    this.closed = true;
    const body = JSON.stringify({ janus: "destroy", transaction: randomId(), token: this.token });
    navigator.sendBeacon(`${this.base}/${this.id}`, new Blob([body], { type: "application/json" }));
  }

  async destroy() {
    if (this.closed) return;
    this.closed = true;
    try { await this.request(`/${this.id}`, { janus: "destroy" }); } catch (error) { /* gone already */ }
  }
}

// An event of one handle that satisfies `test`; a plugin error on that handle (a full room, a wrong PIN)
// satisfies it too, and waitFor's caller gets it as an exception.
const fromHandle = (handle, test) => (event) => event.sender === handle
  && (test(event) || Boolean(event.plugindata?.data?.error_code));

function gatheringDone(pc, timeoutMs = 10000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
    });
  });
}

// Each TURN URL a connection lists costs an allocation on the TURN host, and coturn bounds a page's
// allocations (turn.user_quota): once the check found a transport that works, calls use only that one.
let preferredTransport = null;

function peerConnection(session) {
  const iceServers = session.ice_servers.map(({ urls, username, credential }) => {
    const mine = preferredTransport ? urls.filter((url) => transportOf(url) === preferredTransport) : urls;
    return { urls: mine.length ? mine : urls, username, credential };
  });
  return new RTCPeerConnection({ iceServers, iceTransportPolicy: session.ice_policy });
}

// Our candidates go to Janus as they are gathered (trickle ICE), so a slow TURN allocation delays nothing else:
// one at a time, in order, and only once Janus has the offer or answer they belong to (`release`).
function trickle(janus, handle, pc) {
  let released = false;
  let chain = Promise.resolve();
  const held = [];
  const send = (candidate) => {
    chain = chain.then(() => janus.request(`/${janus.id}/${handle}`, { janus: "trickle", candidate }).catch(() => {}));
  };
  pc.addEventListener("icecandidate", (event) => {
    const c = event.candidate;
    const candidate = c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }
                        : { completed: true };
    if (released) send(candidate);
    else held.push(candidate);
  });
  return () => {
    released = true;
    held.splice(0).forEach(send);
  };
}

async function offerTo(janus, handle, pc, body, answered) {
  const release = trickle(janus, handle, pc);
  await pc.setLocalDescription(await pc.createOffer());
  await janus.message(handle, body, { type: "offer", sdp: pc.localDescription.sdp });
  release();
  const answer = await janus.waitFor(fromHandle(handle, (e) => e.jsep?.type === "answer" && (!answered || answered(e))));
  await pc.setRemoteDescription(answer.jsep);
  return answer;
}

// Answers carry their candidates (Janus, which offered, does not take trickled ones for them here).
async function answerOffer(janus, handle, pc, offer, body) {
  await pc.setRemoteDescription(offer);
  await pc.setLocalDescription(await pc.createAnswer());
  await gatheringDone(pc);
  await janus.message(handle, body, { type: "answer", sdp: pc.localDescription.sdp, trickle: false });
}

// --- the pre-call check (L7) --------------------------------------------------------------------------------

const results = {};
const report = { started: new Date().toISOString(), lines: [] };

function setCheck(id, state, summary, advice = "", facts = "") {
  results[id] = { state, summary, advice, facts };
  const row = $(`check-${id}`);
  row.className = state;
  row.querySelector(".state").textContent = summary;
  row.querySelector(".detail").textContent = advice ? ` ${advice}` : "";
}

async function checkDevice(kind) {
  const started = performance.now();
  const constraints = kind === "camera" ? { video: true } : { audio: true };
  try {
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    const label = stream.getTracks()[0]?.label || "";
    stream.getTracks().forEach((track) => track.stop());
    setCheck(kind, "ok", TEXT.granted, "", `${label} (${Math.round(performance.now() - started)} ms)`);
    return true;
  } catch (error) {
    const ms = Math.round(performance.now() - started);
    if (error.name === "NotAllowedError" || error.name === "SecurityError") {
      setCheck(kind, "fail", TEXT.denied, TEXT[`allow_${kind}`], `${error.name} (${ms} ms)`);
    } else if (error.name === "NotFoundError" || error.name === "OverconstrainedError") {
      setCheck(kind, "fail", TEXT.no_device, TEXT[`connect_${kind}`], `${error.name} (${ms} ms)`);
    } else if (error.name === "NotReadableError" || error.name === "AbortError") {
      setCheck(kind, "fail", TEXT.in_use, TEXT.close_others, `${error.name} (${ms} ms)`);
    } else {
      setCheck(kind, "fail", TEXT.failed, TEXT[`allow_${kind}`], `${error.name}: ${error.message} (${ms} ms)`);
    }
    return false;
  }
}

function transportOf(url) {
  if (url.startsWith("turns:")) return "tls";
  return /transport=tcp/.test(url) ? "tcp" : "udp";
}

// A relay candidate gathered through one TURN URL, or null after the timeout.
async function relayCandidate(server, url, timeoutMs = 8000) {
  const pc = new RTCPeerConnection({ iceServers: [{ urls: [url], username: server.username,
                                                    credential: server.credential }], iceTransportPolicy: "relay" });
  const started = performance.now();
  try {
    pc.createDataChannel("probe");
    const found = new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      pc.addEventListener("icecandidate", (event) => {
        if (!event.candidate) { clearTimeout(timer); resolve(null); return; }
        if (/ typ relay /.test(event.candidate.candidate)) { clearTimeout(timer); resolve(event.candidate); }
      });
    });
    await pc.setLocalDescription(await pc.createOffer());
    const candidate = await found;
    return { url, candidate: candidate && { address: candidate.address, port: candidate.port,
                                            protocol: candidate.protocol },
             ms: Math.round(performance.now() - started) };
  } finally {
    pc.close();
  }
}

async function checkTurn(session) {
  const server = session.ice_servers[0];
  const probes = await Promise.all(server.urls.map((url) => relayCandidate(server, url)));
  for (const transport of ["udp", "tcp", "tls"]) {
    const mine = probes.filter((p) => transportOf(p.url) === transport);
    if (!mine.length) { setCheck(`turn-${transport}`, "skip", "—"); continue; }
    const facts = mine.map((p) => `${p.url} → ${p.candidate ? `relay ${p.candidate.address}:${p.candidate.port}`
                                                             : "no relay candidate"} (${p.ms} ms)`).join("; ");
    const good = mine.filter((p) => p.candidate).length;
    if (good === mine.length) setCheck(`turn-${transport}`, "ok", TEXT.ok, "", facts);
    else {
      const port = (mine[0].url.match(/:(\d+)(\?|$)/) || [])[1] || "";
      const what = say(TEXT[`what_${transport}`], { port });
      setCheck(`turn-${transport}`, "fail", TEXT.failed, say(TEXT.turn_failed, { what }), facts);
    }
  }
  return probes.some((p) => p.candidate);
}

// A tone (no camera or microphone needed) echoed by Janus over the configured ICE policy (relay: TURN).
async function checkSfu(session) {
  const started = performance.now();
  const janus = await new Janus(session.janus.path, session.janus.token).create();
  const audio = new AudioContext();
  const pc = peerConnection(session);
  try {
    const tone = audio.createOscillator();
    const sink = audio.createMediaStreamDestination();
    tone.connect(sink);
    tone.start();
    sink.stream.getAudioTracks().forEach((track) => pc.addTrack(track, sink.stream));
    const handle = await janus.attach(PLUGIN.echotest);
    await offerTo(janus, handle, pc, { audio: true, video: false });
    for (let i = 0; i < 24; i++) {
      await sleep(500);
      const stats = await statsOf(pc);
      if (stats.audioPacketsReceived > 10) {
        const pair = stats.pair ? `${stats.pair.local?.type}/${stats.pair.local?.relayProtocol || stats.pair.local?.protocol}`
                                 : "?";
        setCheck("sfu", "ok", TEXT.ok, "", `${stats.audioPacketsReceived} packets echoed, local candidate ${pair} ` +
                 `(${Math.round(performance.now() - started)} ms)`);
        return true;
      }
    }
    setCheck("sfu", "fail", TEXT.failed, TEXT.sfu_failed, `ICE ${pc.iceConnectionState}, no packets in 12 s`);
    return false;
  } catch (error) {
    setCheck("sfu", "fail", TEXT.failed, TEXT.sfu_failed, String(error.message || error));
    return false;
  } finally {
    pc.close();
    audio.close();
    janus.destroy();
  }
}

function browserFacts() {
  const ua = navigator.userAgent;
  const brand = navigator.userAgentData?.brands?.map((b) => `${b.brand} ${b.version}`).join(", ");
  return [`Browser: ${CONFIG.browser} on ${CONFIG.os}${brand ? ` (${brand})` : ""}`, `User agent: ${ua}`,
          `Language: ${navigator.language}; page language: ${CONFIG.language}`,
          `Screen: ${screen.width}x${screen.height}, touch points ${navigator.maxTouchPoints || 0}`];
}

function reportText() {
  const labels = { camera: "Camera", microphone: "Microphone", "turn-udp": "TURN over UDP", "turn-tcp": "TURN over TCP",
                   "turn-tls": "TURN over TLS", sfu: "Conference server (echo)" };
  const lines = [`rtcstack conference check, ${report.started}`, `Page: ${location.origin}/c/~`, ...browserFacts(), ""];
  for (const [id, label] of Object.entries(labels)) {
    const r = results[id];
    if (!r) continue;
    const state = { ok: "OK", fail: "FAILED", skip: "not configured" }[r.state] || r.state;
    lines.push(`${label}: ${state}${r.facts ? ` — ${r.facts}` : ""}`);
  }
  return lines.join("\n");
}

async function runChecks() {
  let session;
  try {
    session = await api("/session");
  } catch (error) {
    for (const id of ["turn-udp", "turn-tcp", "turn-tls", "sfu"]) setCheck(id, "fail", TEXT.failed, error.message);
  }
  const [camera, microphone] = [await checkDevice("camera"), await checkDevice("microphone")];
  let turn = false;
  let sfu = false;
  if (session) {
    turn = await checkTurn(session);
    sfu = await checkSfu(session);
  }
  preferredTransport = ["udp", "tcp", "tls"].find((t) => results[`turn-${t}`]?.state === "ok") || null;
  const failed = Object.values(results).filter((r) => r.state === "fail").length;
  const text = reportText();
  $("report").textContent = text;
  $("copy-report").disabled = false;
  const verdict = $("verdict");
  verdict.className = failed ? "verdict fail-text" : "verdict ok-text";
  verdict.textContent = !failed ? TEXT.all_ok : (sfu && turn ? TEXT.some_failed : TEXT.none_joinable);
  $("join").disabled = !(session && sfu);
  window.conference.checks = { results, report: text, camera, microphone, turn, sfu, transport: preferredTransport };
  const summary = Object.entries(results).map(([id, r]) => `${id}=${r.state}`).join(" ");
  try {
    await api("/diagnostics", { ok: !failed, summary, report: text });
    window.conference.checks.stored = true;
  } catch (error) {
    window.conference.checks.stored = false;
  }
}

async function copyReport() {
  const text = $("report").textContent;
  try {
    await navigator.clipboard.writeText(text);
    $("copied").textContent = TEXT.copied;
  } catch (error) {
    $("report-box").open = true;
    const range = document.createRange();
    range.selectNodeContents($("report"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $("copied").textContent = document.execCommand("copy") ? TEXT.copied : TEXT.copy_failed;
  }
}

// --- the group call (L5) -------------------------------------------------------------------------------------

const call = { janus: null, session: null, pcs: [], tiles: new Map(), local: null, chat: null };

function tile(key, label, stream, muted = false) {
  let box = call.tiles.get(key);
  if (!box) {
    box = document.createElement("figure");
    box.className = "tile";
    box.dataset.key = key;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    const caption = document.createElement("figcaption");
    box.append(video, caption);
    $("tiles").append(box);
    call.tiles.set(key, box);
  }
  box.querySelector("figcaption").textContent = label;
  if (stream) box.querySelector("video").srcObject = stream;
  return box;
}

function dropTile(key) {
  call.tiles.get(key)?.remove();
  call.tiles.delete(key);
}

async function joinAudio(joined, display, microphone) {
  const { janus } = call;
  const handle = await janus.attach(PLUGIN.audiobridge);
  await janus.message(handle, { request: "join", room: joined.room, pin: joined.pin, display, muted: !microphone });
  await janus.waitFor(fromHandle(handle, (e) => e.plugindata?.data?.audiobridge === "joined"));
  const pc = peerConnection(joined);
  call.pcs.push({ role: "audio", pc });
  if (microphone) {
    call.microphone = await navigator.mediaDevices.getUserMedia({ audio: true });
    call.microphone.getAudioTracks().forEach((track) => pc.addTrack(track, call.microphone));
  } else {
    pc.addTransceiver("audio", { direction: "recvonly" });
  }
  pc.addEventListener("track", (event) => {
    const audio = document.createElement("audio");
    audio.autoplay = true;
    audio.srcObject = event.streams[0] || new MediaStream([event.track]);
    document.body.append(audio);
  });
  await offerTo(janus, handle, pc, { request: "configure", muted: !microphone });
  call.audioHandle = handle;
}

async function subscribe(joined, publisher) {
  const { janus } = call;
  const handle = await janus.attach(PLUGIN.videoroom);
  const pc = peerConnection(joined);
  call.pcs.push({ role: "subscriber", feed: publisher.id, pc, handle });
  pc.addEventListener("track", (event) => {
    tile(`feed-${publisher.id}`, publisher.display || "?", event.streams[0] || new MediaStream([event.track]));
  });
  await janus.message(handle, { request: "join", ptype: "subscriber", room: joined.room, pin: joined.pin,
                                streams: [{ feed: publisher.id }] });
  const offer = await janus.waitFor(fromHandle(handle, (e) => e.jsep?.type === "offer"));
  await answerOffer(janus, handle, pc, offer.jsep, { request: "start", room: joined.room });
}

function unsubscribe(feed) {
  const entry = call.pcs.find((p) => p.role === "subscriber" && p.feed === feed);
  if (entry) {
    entry.pc.close();
    call.pcs.splice(call.pcs.indexOf(entry), 1);
    call.janus.request(`/${call.janus.id}/${entry.handle}`, { janus: "detach" }).catch(() => {});
  }
  dropTile(`feed-${feed}`);
}

async function joinVideo(joined, display, camera) {
  const { janus } = call;
  const handle = await janus.attach(PLUGIN.videoroom);
  const newPublishers = (list) => {
    for (const publisher of list || []) {
      if (!call.pcs.some((p) => p.feed === publisher.id)) {
        subscribe(joined, publisher).catch((error) => status(say(TEXT.join_failed, { reason: error.message })));
      }
    }
  };
  await janus.message(handle, { request: "join", ptype: "publisher", room: joined.room, pin: joined.pin, display });
  const welcome = await janus.waitFor(fromHandle(handle, (e) => e.plugindata?.data?.videoroom === "joined"));
  call.feedId = welcome.plugindata.data.id;
  janus.on(handle, (event) => {
    const data = event.plugindata?.data || {};
    if (data.publishers) newPublishers(data.publishers);
    if (data.unpublished && data.unpublished !== "ok") unsubscribe(data.unpublished);
    if (data.leaving && data.leaving !== "ok") unsubscribe(data.leaving);
  });
  if (camera) {
    call.camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
    tile("self", `${display} (${TEXT.you})`, call.camera, true);
    const pc = peerConnection(joined);
    call.pcs.push({ role: "publisher", pc });
    call.camera.getVideoTracks().forEach((track) => pc.addTrack(track, call.camera));
    await offerTo(janus, handle, pc, { request: "publish", audio: false, video: true, display });
  }
  newPublishers(welcome.plugindata.data.publishers);
}

function status(text) { $("call-status").textContent = text; }

async function join(display) {
  $("join").disabled = true;
  status(TEXT.connecting);
  try {
    const joined = await api("/join", { display });
    call.session = joined;
    call.janus = await new Janus(joined.janus.path, joined.janus.token).create();
    $("check").hidden = true;
    $("call").hidden = false;
    const checks = window.conference.checks || {};
    window.conference.step = "audio";
    await joinAudio(joined, display, checks.microphone !== false);
    window.conference.step = "video";
    await joinVideo(joined, display, checks.camera !== false);
    window.conference.step = "chat";
    await joinChat(joined, display);
    window.conference.step = "joined";
    $("chat").hidden = false;
    $("phone-controls").hidden = !CONFIG.video_phone;
    status(TEXT.joined_call);
    window.conference.joined = true;
    if (CONFIG.video_phone) {  // a scheduled conference (P9) has no video phone to call
      phoneCall("GET").then(showPhone).catch(() => {});
      followPhone();
    }
  } catch (error) {
    status(say(TEXT.join_failed, { reason: error.message }));
    $("join").disabled = false;
    window.conference.error = error.message;
  }
}

async function leave() {
  clearInterval(phone.poller);
  phone.watching = null;
  $("phone-controls").hidden = true;
  for (const { pc } of call.pcs) pc.close();
  call.pcs = [];
  for (const stream of [call.camera, call.microphone]) stream?.getTracks().forEach((t) => t.stop());
  await call.janus?.destroy();
  $("tiles").replaceChildren();
  call.tiles.clear();
  status(TEXT.left_call);
  window.conference.joined = false;
}

// --- the video phone (L5): called into the conference through the gateway; its video is a Streaming mountpoint --

const phone = { state: "none", poller: null, watching: null };

async function phoneCall(method, body) {
  const response = await fetch(CONFIG.api + "/call", {
    method, headers: { "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(reply.detail || (reply.errors || []).join("; ") || `HTTP ${response.status}`);
  return reply;
}

function showPhone(found) {
  phone.state = found.state;
  window.conference.phone = found;
  const busy = found.state === "calling" || found.state === "answered";
  $("call-phone").hidden = busy;
  $("call-phone").disabled = false;
  $("hang-up-phone").hidden = !busy;
  $("phone-status").textContent = {
    calling: TEXT.phone_calling, answered: TEXT.phone_answered, ended: TEXT.phone_ended,
    failed: say(TEXT.phone_failed, { reason: found.reason || "" }),
  }[found.state] || "";
  if (found.state === "answered" && found.mountpoint && !phone.watching) {
    watchPhone(found.mountpoint).catch((error) => {
      $("phone-status").textContent = say(TEXT.phone_failed, { reason: error.message });
    });
  }
  if (found.state !== "answered" && phone.watching) stopWatchingPhone();
}

// Every page in the call follows the phone's call, not only the one that pressed the button.
function followPhone() {
  clearInterval(phone.poller);
  phone.poller = setInterval(() => phoneCall("GET").then(showPhone).catch(() => {}), 3000);
}

async function callPhone() {
  $("call-phone").disabled = true;
  $("phone-status").textContent = TEXT.phone_calling;
  try {
    showPhone(await phoneCall("POST", { publisher: call.feedId || null }));
  } catch (error) {
    $("call-phone").disabled = false;
    $("phone-status").textContent = say(TEXT.phone_failed, { reason: error.message });
  }
}

async function hangUpPhone() {
  $("hang-up-phone").disabled = true;
  try { showPhone(await phoneCall("DELETE")); } catch (error) { /* the next poll shows the state */ }
  $("hang-up-phone").disabled = false;
}

async function watchPhone(mountpoint) {
  const { janus, session: joined } = call;
  const handle = await janus.attach(PLUGIN.streaming);
  const pc = peerConnection(joined);
  phone.watching = { pc, handle };
  call.pcs.push({ role: "phone", pc, handle });
  pc.addEventListener("track", (event) => {
    tile("phone", `${joined.video_phone} (${TEXT.video_phone})`, event.streams[0] || new MediaStream([event.track]));
  });
  await janus.message(handle, { request: "watch", id: mountpoint, pin: joined.pin });
  const offer = await janus.waitFor(fromHandle(handle, (e) => e.jsep?.type === "offer"));
  await answerOffer(janus, handle, pc, offer.jsep, { request: "start" });
}

function stopWatchingPhone() {
  const { pc, handle } = phone.watching;
  pc.close();
  call.pcs = call.pcs.filter((p) => p.pc !== pc);
  call.janus?.request(`/${call.janus.id}/${handle}`, { janus: "detach" }).catch(() => {});
  dropTile("phone");
  phone.watching = null;
}

// --- chat (the text room; iOS gets only this) ----------------------------------------------------------------

const names = new Map();

function showMessage(who, text, kind = "message", mine = false) {
  const item = document.createElement("li");
  item.className = mine ? `${kind} mine` : kind;
  if (kind === "message") {
    const name = document.createElement("strong");
    name.textContent = `${who}: `;
    item.append(name, document.createTextNode(text));
  } else {
    item.textContent = text;
  }
  $("messages").append(item);
  item.scrollIntoView({ block: "nearest" });
  window.conference.messages.push({ who, text, kind, mine });
}

async function joinChat(joined, display) {
  const { janus } = call;
  const handle = await janus.attach(PLUGIN.textroom);
  const pc = peerConnection(joined);
  call.pcs.push({ role: "chat", pc });
  const channel = pc.createDataChannel("JanusDataChannel", { ordered: true });
  const username = randomId();
  const opened = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the chat channel did not open in 20 s")), 20000);
    channel.addEventListener("open", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
  const pending = new Map();
  channel.addEventListener("message", (event) => {
    const data = JSON.parse(event.data);
    if (data.transaction && pending.has(data.transaction)) {
      pending.get(data.transaction)(data);
      pending.delete(data.transaction);
      return;
    }
    if (data.textroom === "message" && data.from !== username) {
      showMessage(names.get(data.from) || data.from, data.text);
    } else if (data.textroom === "join") {
      names.set(data.username, data.display || data.username);
      showMessage("", say(TEXT.chat_joined, { name: data.display || data.username }), "event");
    } else if (data.textroom === "leave") {
      showMessage("", say(TEXT.chat_left, { name: names.get(data.username) || data.username }), "event");
    }
  });
  const send = (message) => new Promise((resolve, reject) => {
    const transaction = randomId();
    pending.set(transaction, (reply) => (reply.textroom === "error" ? reject(new Error(reply.error)) : resolve(reply)));
    channel.send(JSON.stringify({ ...message, transaction }));
  });
  await janus.message(handle, { request: "setup" });
  const offer = await janus.waitFor(fromHandle(handle, (e) => e.jsep?.type === "offer"));
  await answerOffer(janus, handle, pc, offer.jsep, { request: "ack" });
  await opened;
  const welcome = await send({ textroom: "join", room: joined.room, pin: joined.pin, username, display });
  for (const p of welcome.participants || []) names.set(p.username, p.display || p.username);
  call.chat = { send: (text) => send({ textroom: "message", room: joined.room, text }), display };
  $("chat-form").hidden = false;
}

async function sendChat(event) {
  event.preventDefault();
  const input = $("chat-text");
  const text = input.value.trim();
  if (!text || !call.chat) return;
  input.value = "";
  await call.chat.send(text);
  showMessage(call.chat.display, text, "message", true);
}

async function joinChatOnly(display) {
  $("chat-join-button").disabled = true;
  try {
    const joined = await api("/join", { display });
    call.session = joined;
    call.janus = await new Janus(joined.janus.path, joined.janus.token).create();
    await joinChat(joined, display);
    $("chat-join").hidden = true;
    window.conference.joined = true;
  } catch (error) {
    showMessage("", say(TEXT.join_failed, { reason: error.message }), "event");
    $("chat-join-button").disabled = false;
    window.conference.error = error.message;
  }
}

// --- what tests and support read: per connection, media counters and the selected candidate pair ---------------

async function statsOf(pc) {
  const stats = await pc.getStats();
  const byId = new Map();
  stats.forEach((s) => byId.set(s.id, s));
  const out = { state: pc.connectionState, framesDecoded: 0, frameWidth: 0, audioEnergy: 0, audioPacketsReceived: 0,
                framesEncoded: 0, audioPacketsSent: 0, pair: null };
  stats.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      out.framesDecoded += s.framesDecoded || 0;
      out.frameWidth = Math.max(out.frameWidth, s.frameWidth || 0);
      out.videoCodec = byId.get(s.codecId)?.mimeType;
    }
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.audioEnergy += s.totalAudioEnergy || 0;
      out.audioPacketsReceived += s.packetsReceived || 0;
    }
    if (s.type === "outbound-rtp" && s.kind === "video") {
      out.framesEncoded += s.framesEncoded || 0;
      out.pliCount = (out.pliCount || 0) + (s.pliCount || 0);
      out.videoCodec = out.videoCodec || byId.get(s.codecId)?.mimeType;
    }
    if (s.type === "outbound-rtp" && s.kind === "audio") out.audioPacketsSent += s.packetsSent || 0;
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = byId.get(s.selectedCandidatePairId);
      const pick = (c) => c && { type: c.candidateType, address: c.address, port: c.port, protocol: c.protocol,
                                 relayProtocol: c.relayProtocol };
      out.pair = { local: pick(byId.get(pair.localCandidateId)), remote: pick(byId.get(pair.remoteCandidateId)) };
    }
  });
  return out;
}

async function callStats() {
  return Promise.all(call.pcs.map(async (p) => ({ role: p.role, feed: p.feed, ...(await statsOf(p.pc)) })));
}

// --- start ---------------------------------------------------------------------------------------------------

function effectiveMode() {
  let mode = CONFIG.mode;
  const iPadAsMac = /Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1;
  if (iPadAsMac) mode = "chat";
  const rtc = typeof RTCPeerConnection === "function";
  const media = Boolean(navigator.mediaDevices?.getUserMedia);
  if (mode === "full" && !(rtc && media)) mode = "unsupported";
  if (mode === "chat" && !rtc) mode = "unsupported";
  return mode;
}

window.conference = { mode: effectiveMode(), messages: [], stats: callStats, leave, checks: null };

function start() {
  const mode = window.conference.mode;
  $("conference").dataset.mode = mode;
  $("unsupported").hidden = mode !== "unsupported";
  $("chat-only").hidden = mode !== "chat";
  $("check").hidden = mode !== "full";
  $("chat").hidden = mode !== "chat";
  $("chat-join").hidden = mode !== "chat";
  const saved = localStorage.getItem("rtcstack-display") || "";
  $("display").value = saved;
  $("chat-display").value = saved;
  $("copy-report").addEventListener("click", copyReport);
  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem("rtcstack-display", $("display").value.trim());
    join($("display").value.trim());
  });
  $("chat-join").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem("rtcstack-display", $("chat-display").value.trim());
    joinChatOnly($("chat-display").value.trim());
  });
  $("chat-form").addEventListener("submit", sendChat);
  $("leave").addEventListener("click", leave);
  $("call-phone").addEventListener("click", callPhone);
  $("hang-up-phone").addEventListener("click", hangUpPhone);
  $("toggle-mic").addEventListener("click", () => {
    const track = call.microphone?.getAudioTracks()[0];
    if (!track) return;
    track.enabled = !track.enabled;
    $("toggle-mic").textContent = track.enabled ? TEXT.mute : TEXT.unmute;
  });
  $("toggle-camera").addEventListener("click", () => {
    const track = call.camera?.getVideoTracks()[0];
    if (!track) return;
    track.enabled = !track.enabled;
    $("toggle-camera").textContent = track.enabled ? TEXT.stop_video : TEXT.start_video;
  });
  window.addEventListener("pagehide", () => call.janus?.destroySoon());
  if (mode === "full") runChecks();
}

start();

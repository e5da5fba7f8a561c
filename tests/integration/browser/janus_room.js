// A minimal Janus video-room client over the HTTP API (long polls), for the WebRTC tests. Runs in a page
// served from the edge's origin, so /janus is same-origin; every request carries a signed token.
"use strict";

class JanusSession {
  constructor(base, token) {
    this.base = base;
    this.token = token;
    this.events = [];
    this.waiters = [];
    this.closed = false;
  }

  async request(path, body) {
    const payload = { ...body, transaction: Math.random().toString(36).slice(2), token: this.token };
    const response = await fetch(this.base + path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
    const reply = await response.json();
    if (reply.janus === "error") throw new Error(`Janus ${reply.error.code}: ${reply.error.reason}`);
    return reply;
  }

  async create() {
    this.id = (await this.request("", { janus: "create" })).data.id;
    this.poll();
  }

  async attach(plugin) {
    return (await this.request(`/${this.id}`, { janus: "attach", plugin })).data.id;
  }

  async message(handle, body, jsep) {
    return this.request(`/${this.id}/${handle}`, jsep ? { janus: "message", body, jsep } : { janus: "message", body });
  }

  async poll() {
    while (!this.closed) {
      try {
        const url = `${this.base}/${this.id}?maxev=5&rid=${Date.now()}&token=${encodeURIComponent(this.token)}`;
        const reply = await (await fetch(url)).json();
        for (const event of Array.isArray(reply) ? reply : [reply]) {
          if (event.janus === "keepalive") continue;
          this.events.push(event);
          for (const waiter of [...this.waiters]) waiter();
        }
      } catch (error) {
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  // The first event (already received or still to come) that satisfies `test`.
  waitFor(test, timeoutMs = 20000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.find(test);
        if (!found) return false;
        this.waiters = this.waiters.filter((w) => w !== check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`no matching Janus event in ${timeoutMs} ms; got ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      if (!check()) this.waiters.push(check);
    });
  }
}

function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}

const VIDEOROOM = "janus.plugin.videoroom";

async function joinRoom({ base, token, iceServers, room, display, ptype, feed }) {
  const session = new JanusSession(base, token);
  await session.create();
  const handle = await session.attach(VIDEOROOM);
  const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: "relay" });
  window.rtc = { session, handle, pc };
  const fromHandle = (e) => e.sender === handle;
  if (ptype === "publisher") {
    const media = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false });
    media.getTracks().forEach((track) => pc.addTrack(track, media));
    await session.message(handle, { request: "join", ptype, room, display });
    const joined = await session.waitFor((e) => fromHandle(e) && e.plugindata?.data?.videoroom === "joined");
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    await session.message(handle, { request: "publish", audio: false, video: true },
                          { type: "offer", sdp: pc.localDescription.sdp, trickle: false });
    const answer = await session.waitFor((e) => fromHandle(e) && e.jsep?.type === "answer");
    await pc.setRemoteDescription(answer.jsep);
    // Janus lists a publisher as a feed only once its PeerConnection is up: before that, a subscriber
    // gets "No such feed" (on a loaded machine ICE through TURN takes a while).
    await session.waitFor((e) => e.janus === "webrtcup" && e.sender === handle, 30000);
    return { id: joined.plugindata.data.id, remoteSdp: answer.jsep.sdp, localSdp: pc.localDescription.sdp };
  }
  await session.message(handle, { request: "join", ptype: "subscriber", room, streams: [{ feed }] });
  const offer = await session.waitFor((e) => fromHandle(e) && e.jsep?.type === "offer");
  await pc.setRemoteDescription(offer.jsep);
  await pc.setLocalDescription(await pc.createAnswer());
  await gatheringComplete(pc);
  await session.message(handle, { request: "start", room },
                        { type: "answer", sdp: pc.localDescription.sdp, trickle: false });
  return { remoteSdp: offer.jsep.sdp, localSdp: pc.localDescription.sdp };
}

// What the test asserts: video counters and the selected candidate pair, with both candidates.
async function rtcReport() {
  const stats = await window.rtc.pc.getStats();
  const byId = new Map();
  stats.forEach((s) => byId.set(s.id, s));
  const report = { connectionState: window.rtc.pc.connectionState, video: {}, pair: null };
  stats.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      report.video.framesDecoded = s.framesDecoded; report.video.frameWidth = s.frameWidth;
      report.video.packetsReceived = s.packetsReceived; report.video.packetsLost = s.packetsLost;
    }
    if (s.type === "outbound-rtp" && s.kind === "video") {
      report.video.framesEncoded = s.framesEncoded; report.video.packetsSent = s.packetsSent;
    }
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = byId.get(s.selectedCandidatePairId);
      const pick = (c) => c && { type: c.candidateType, address: c.address, port: c.port, protocol: c.protocol,
                                 relayProtocol: c.relayProtocol, url: c.url };
      report.pair = { state: pair.state, local: pick(byId.get(pair.localCandidateId)),
                      remote: pick(byId.get(pair.remoteCandidateId)) };
    }
  });
  return report;
}

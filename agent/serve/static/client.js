// voice-agent's page: one WebRTC call to `voice-agent serve`, and what the bot does, shown live.
//
// Signalling is pipecat's SmallWebRTC protocol (POST /api/offer with the whole offer, ICE
// gathered first); the data channel carries pipecat's keep-alive ("ping" every second: the
// server ends a call whose pings stop) and RTVI messages: standard ones for speech and
// transcripts, and the server's own `server-message`s for the bot's state and turn latency.
// No framework, no build step, nothing from a CDN.
"use strict";

(() => {
  const RTVI_LABEL = "rtvi-ai";
  const PING_INTERVAL_MS = 1000;
  const ICE_GATHER_TIMEOUT_MS = 3000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    talk: $("talk"), connection: $("connection"), bot: $("bot-state"), level: $("mic-level"),
    error: $("error"), transcript: $("transcript"), turns: $("turns"), audio: $("bot-audio"),
  };

  // Everything about the call, readable from the console (and by the browser tests).
  const call = {
    pc: null, dc: null, pcId: null, localStream: null, remoteStream: null,
    connection: "idle", botState: null, lines: [], turns: {}, messages: 0,
  };
  window.voiceAgent = call;

  let pingTimer = null, meterFrame = null, meterCtx = null;
  let botLine = null, userLine = null;
  // The line of the answer in progress: kept when the user's words arrive (they end botLine,
  // so the next answer gets a line of its own) because the interruption they caused can be
  // reported after them; ended only when the next answer starts.
  let answerLine = null;
  const seenUserTexts = new Set();

  function setConnection(state, label) {
    call.connection = state;
    ui.connection.dataset.state = state;
    ui.connection.textContent = label || state;
    const live = state === "connecting" || state === "connected";
    ui.talk.textContent = live ? "Hang up" : "Talk";
    ui.talk.classList.toggle("live", live);
  }

  function setBotState(state) {
    call.botState = state;
    ui.bot.dataset.state = state;
    ui.bot.textContent = state;
    if (state === "interrupted" && answerLine) markInterrupted(answerLine);
  }

  function showError(text) {
    ui.error.hidden = !text;
    ui.error.textContent = text || "";
  }

  function addLine(who, text) {
    const li = document.createElement("li");
    li.className = who;
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = who === "user" ? "you" : "bot";
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    li.append(name, body);
    ui.transcript.append(li);
    li.scrollIntoView({ block: "nearest" });
    const line = { who, text, interrupted: false, li, body };
    call.lines.push(line);
    return line;
  }

  function appendText(line, text) {
    line.text = (line.text + " " + text).replace(/\s+/g, " ").trim();
    line.body.textContent = line.text;
  }

  function markInterrupted(line) {
    line.interrupted = true;
    line.li.classList.add("interrupted");
  }

  function ms(value) {
    return value == null ? "–" : `${Math.round(value)} ms`;
  }

  function showTurn(turn) {
    call.turns[turn.turn] = turn;
    let row = ui.turns.querySelector(`tr[data-turn="${turn.turn}"]`);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.turn = turn.turn;
      ui.turns.append(row);
    }
    const lat = turn.latency_ms || {};
    const cells = [String(turn.turn), turn.heard || "", ms(turn.voice_to_voice_ms), ms(lat.llm_first_token),
      (turn.barge_in_ms || []).map(ms).join(", ") || "–"];
    row.replaceChildren(...cells.map((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i >= 2) td.className = "ms";
      return td;
    }));
  }

  function onRTVI(msg) {
    call.messages += 1;
    const data = msg.data || {};
    switch (msg.type) {
      case "bot-ready":
        setBotState("listening");
        break;
      case "user-transcription":
      case "user-input": {
        if (data.final === false || !data.text) break;
        const key = `${data.timestamp}|${data.text}`;
        if (seenUserTexts.has(key)) break;  // pipecat sends both for one transcript
        seenUserTexts.add(key);
        if (userLine) appendText(userLine, data.text);
        else userLine = addLine("user", data.text);
        botLine = null;
        break;
      }
      case "bot-llm-started":
        userLine = null;
        botLine = answerLine = null;
        break;
      case "bot-tts-text":
        if (!data.text) break;
        userLine = null;
        if (!botLine) botLine = answerLine = addLine("bot", "");
        appendText(botLine, data.text);
        break;
      case "server-message":
        if (data.type === "state") setBotState(data.state);
        else if (data.type === "turn") showTurn(data);
        break;
      case "error":
        showError(data.message || data.error || "the server reported an error");
        break;
    }
  }

  function onMessage(event) {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      return;
    }
    if (msg.label === RTVI_LABEL) onRTVI(msg);
    else if (msg.type === "signalling" && msg.message && msg.message.type === "peerLeft") hangUp("the server ended the call");
  }

  function send(type, data) {
    if (call.dc && call.dc.readyState === "open") {
      call.dc.send(JSON.stringify({ label: RTVI_LABEL, type, id: Math.random().toString(36).slice(2), data }));
    }
  }

  function startMeter(stream) {
    meterCtx = new AudioContext();
    const analyser = meterCtx.createAnalyser();
    analyser.fftSize = 1024;
    meterCtx.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const draw = () => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      const rms = Math.sqrt(sum / samples.length);
      call.micLevel = rms;
      ui.level.style.width = `${Math.min(100, Math.round(rms * 400))}%`;
      meterFrame = requestAnimationFrame(draw);
    };
    draw();
  }

  function gatheringDone(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ICE_GATHER_TIMEOUT_MS);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  async function connect() {
    showError("");
    setConnection("connecting");
    ui.talk.disabled = true;
    try {
      call.localStream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      startMeter(call.localStream);
      const pc = (call.pc = new RTCPeerConnection());
      pc.addTransceiver(call.localStream.getAudioTracks()[0], { direction: "sendrecv", streams: [call.localStream] });
      pc.ontrack = (event) => {
        call.remoteStream = event.streams[0] || new MediaStream([event.track]);
        ui.audio.srcObject = call.remoteStream;
      };
      pc.onconnectionstatechange = () => {
        const s = pc.connectionState;
        if (s === "connected") setConnection("connected");
        else if (s === "failed") hangUp("the connection failed");
        else if (s === "disconnected") setConnection("connecting", "reconnecting");
      };
      const dc = (call.dc = pc.createDataChannel("chat", { ordered: true }));
      dc.onopen = () => {
        send("client-ready", { version: "1.0.0", about: { library: "voice-agent-page" } });
        const ping = () => dc.readyState === "open" && dc.send(`ping: ${Date.now()}`);
        ping();  // at once: the server only trusts pings once it has had one
        pingTimer = setInterval(ping, PING_INTERVAL_MS);
      };
      dc.onmessage = onMessage;

      await pc.setLocalDescription(await pc.createOffer());
      await gatheringDone(pc);
      const response = await fetch("/api/offer", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || body);
        throw new Error(detail || `the server answered ${response.status}`);
      }
      call.pcId = body.pc_id;
      await pc.setRemoteDescription({ sdp: body.sdp, type: body.type });
    } catch (err) {
      hangUp();
      showError(`Could not start the call: ${err.message || JSON.stringify(err)}`);
    } finally {
      ui.talk.disabled = false;
    }
  }

  function hangUp(reason) {
    send("disconnect-bot");
    clearInterval(pingTimer);
    cancelAnimationFrame(meterFrame);
    if (meterCtx) meterCtx.close();
    if (call.dc) call.dc.close();
    if (call.pc) call.pc.close();
    if (call.localStream) call.localStream.getTracks().forEach((t) => t.stop());
    call.pc = call.dc = call.localStream = meterCtx = null;
    ui.level.style.width = "0";
    botLine = answerLine = userLine = null;
    setConnection("idle", reason ? "call ended" : "not connected");
    setBotState("–");
    if (reason) showError(reason);
  }

  ui.talk.addEventListener("click", () => (call.pc ? hangUp() : connect()));
  window.addEventListener("beforeunload", () => call.pc && hangUp());
})();

(function () {
  "use strict";
  var names = __NAMES__;
  var keyHex = __KEY__;
  var dispatchName = __DISPATCH__;
  var rotating = __ROTATE__;
  var lanes = Object.create(null);
  var post = window.ipc.postMessage.bind(window.ipc);
  var listeners = Object.create(null);
  var owns = Object.prototype.hasOwnProperty;
  function hex(bytes) {
    return Array.prototype.map.call(new Uint8Array(bytes), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function random() { var b = new Uint8Array(16); crypto.getRandomValues(b); return hex(b); }
  var page = random();
  var seq = 0;
  var queue = Promise.resolve();
  var incoming = Promise.resolve();
  var lastEvent = 0;
  var key = null;
  function unhex(text) { return new Uint8Array(text.match(/../g).map(function (h) { return parseInt(h, 16); })); }
  if (keyHex !== null) {
    if (!(window.crypto && crypto.subtle)) { throw new Error("millennium: message authentication needs crypto.subtle"); }
    key = crypto.subtle.importKey("raw", unhex(keyHex), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  }
  // Whether a reply or event from Rust carries the MAC of `text` (always true without authentication). Checks run in
  // arrival order, so events keep their order.
  function authentic(text, mac) {
    var check = incoming.then(function () {
      if (key === null) { return true; }
      if (typeof mac !== "string" || !/^[0-9a-f]{64}$/.test(mac)) { return false; }
      return key.then(function (k) {
        return crypto.subtle.verify("HMAC", k, unhex(mac), new TextEncoder().encode("rust\n" + text));
      });
    });
    incoming = check.catch(function () {});
    return check;
  }
  function send(message) {
    var body = JSON.stringify(message);
    queue = queue.then(function () {
      var n = ++seq;
      if (key === null) { post(JSON.stringify({ page: page, seq: n, body: body, mac: null })); return; }
      return key.then(function (k) {
        return crypto.subtle.sign("HMAC", k, new TextEncoder().encode(page + "\n" + n + "\n" + body));
      }).then(function (mac) { post(JSON.stringify({ page: page, seq: n, body: body, mac: hex(mac) })); });
    });
    return queue;
  }
  function invoke(name, args) {
    if (!rotating) { return call(name, args); }
    // A command's name changes after each call, so calls of one command go one at a time.
    var run = (lanes[name] || Promise.resolve()).then(function () { return call(name, args); });
    lanes[name] = run.catch(function () {});
    return run;
  }
  function call(name, args) {
    return new Promise(function (resolve, reject) {
      if (!owns.call(names, name)) { reject(new Error("unknown command: " + name)); return; }
      var handle = "_" + random();
      var done = false;
      Object.defineProperty(window, handle, {
        configurable: true,
        value: function (ok, text, next, mac) {
          var signed = ["reply", handle, ok ? "1" : "0", typeof next === "string" ? next : "", text].join("\n");
          authentic(signed, mac).then(function (good) {
            if (!good) { console.error("millennium: dropped a reply with a bad MAC (forged)"); return; }
            if (done) { return; }
            done = true;
            delete window[handle];
            if (typeof next === "string") { names[name] = next; }
            var value = JSON.parse(text);
            if (ok) { resolve(value); } else { reject(new Error(value)); }
          });
        }
      });
      send({ t: "invoke", cmd: names[name], cb: handle, args: args === undefined ? null : args }).catch(reject);
    });
  }
  function listen(broker, callback) {
    (listeners[broker] = listeners[broker] || []).push(callback);
    return function () {
      var list = listeners[broker] || [];
      var i = list.indexOf(callback);
      if (i >= 0) { list.splice(i, 1); }
    };
  }
  function emit(broker, payload) {
    return send({ t: "emit", broker: String(broker), payload: payload === undefined ? null : payload });
  }
  Object.defineProperty(window, dispatchName, {
    value: function (broker, text, seq, mac) {
      authentic(["event", seq, broker, text].join("\n"), mac).then(function (good) {
        if (!good) { console.error("millennium: dropped an event with a bad MAC (forged)"); return; }
        if (!(seq > lastEvent)) { console.error("millennium: dropped a replayed or reordered event"); return; }
        lastEvent = seq;
        var payload = JSON.parse(text);
        (listeners[broker] || []).slice().forEach(function (callback) {
          try { callback(payload); } catch (e) { console.error(e); }
        });
      });
    }
  });
  var api = {
    invoke: invoke,
    listen: listen,
    emit: emit,
    commands: Object.freeze(Object.keys(names).filter(function (n) { return n.indexOf("millennium:") !== 0; }))
  };
  __APIS__
  Object.defineProperty(window, "Millennium", { value: Object.freeze(api), enumerable: true });
  if (document.currentScript) { document.currentScript.remove(); }
})();

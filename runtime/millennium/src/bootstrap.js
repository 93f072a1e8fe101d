// The page side of the IPC bridge (see `bridge.rs`). The webview runs it as an initialization script in the app's
// top-level page, at document start, before any script of the page; it is never part of a response, so no script can
// fetch it. The session's secrets (command names, event token, message keys) live only in this closure.
//
// Every built-in the bridge uses after start-up is taken now, while the realm is still the browser's own: a page script
// that later replaces `Promise.prototype.then`, `crypto.subtle.verify`, `JSON.stringify`, array or function methods, or
// adds setters and `toJSON` to prototypes, sees no secret and cannot make the bridge accept a forged reply or event.
// So the code below never calls a method through a property lookup, never stores into an array or a plain object (a
// setter on a prototype would see the value) and never reads an accessor such as `length` of a typed array.
(function () {
  "use strict";
  var uncurry = Function.prototype.bind.bind(Function.prototype.call);
  var create = Object.create;
  var defineProperty = Object.defineProperty;
  var freeze = Object.freeze;
  var keysOf = Object.keys;
  var owns = uncurry(Object.prototype.hasOwnProperty);
  var stringify = JSON.stringify;
  var parse = JSON.parse;
  var NativePromise = Promise;
  var NativeError = Error;
  var Bytes = Uint8Array;
  var then = uncurry(Promise.prototype.then);
  var consoleObject = console;
  var consoleError = uncurry(console.error);
  var cryptoObject = window.crypto;
  var fillRandom = uncurry(cryptoObject.getRandomValues);
  // The platform's own message channel (wry's `window.ipc.postMessage` looks `window.webkit` up at every call).
  var webkitHandlers = window.webkit && window.webkit.messageHandlers;
  var channel = (webkitHandlers && webkitHandlers.ipc) || (window.chrome && window.chrome.webview) || window.ipc;
  var postRaw = uncurry(channel.postMessage);

  var initialNames = __NAMES__;
  var keys = __KEYS__;
  var dispatchName = __DISPATCH__;
  var eventToken = __TOKEN__;
  var rotating = __ROTATE__;

  var DIGITS = "0123456789abcdef";
  var DIGIT_VALUES = create(null);
  for (var d = 0; d < 16; d += 1) { DIGIT_VALUES[DIGITS[d]] = d; }
  // `length` bytes of `bytes` (an ArrayBuffer or a Uint8Array) in hex.
  function hex(bytes, length) {
    var view = new Bytes(bytes);
    var out = "";
    for (var i = 0; i < length; i += 1) { out += DIGITS[view[i] >> 4] + DIGITS[view[i] & 15]; }
    return out;
  }
  // The 32 bytes of a 64-digit lower-case hex string, or null.
  function unhex(text) {
    if (typeof text !== "string" || text.length !== 64) { return null; }
    var bytes = new Bytes(32);
    for (var i = 0; i < 32; i += 1) {
      var high = DIGIT_VALUES[text[2 * i]];
      var low = DIGIT_VALUES[text[2 * i + 1]];
      if (high === undefined || low === undefined) { return null; }
      bytes[i] = high * 16 + low;
    }
    return bytes;
  }
  function random() {
    var bytes = new Bytes(16);
    fillRandom(cryptoObject, bytes);
    return hex(bytes, 16);
  }
  function warn(text) { consoleError(consoleObject, "millennium: " + text); }
  // `value` as JSON text ("null" for what JSON cannot say).
  function json(value) {
    var text = stringify(value === undefined ? null : value);
    return text === undefined ? "null" : text;
  }

  // A queue of asynchronous steps run one at a time, in order: `step(done)` calls `done()` when it has finished.
  function serial() {
    var steps = create(null);
    var head = 0;
    var tail = 0;
    var running = false;
    function advance() {
      if (head === tail) { running = false; return; }
      running = true;
      var step = steps[head];
      delete steps[head];
      head += 1;
      var finished = false;
      var done = function () { if (!finished) { finished = true; advance(); } };
      try { step(done); } catch (e) { done(); }
    }
    return function (step) {
      steps[tail] = step;
      tail += 1;
      if (!running) { advance(); }
    };
  }
  function immediately(step) { step(function () {}); }

  var subtle = null;
  var sign = null;
  var verify = null;
  var encoder = null;
  var encode = null;
  var pageKey = null;
  var rustKey = null;
  var outgoing = serial();
  var incoming = serial();
  if (keys !== null) {
    if (!(cryptoObject && cryptoObject.subtle)) {
      throw new NativeError("millennium: message authentication needs crypto.subtle");
    }
    subtle = cryptoObject.subtle;
    sign = uncurry(subtle.sign);
    verify = uncurry(subtle.verify);
    encoder = new TextEncoder();
    encode = uncurry(TextEncoder.prototype.encode);
    var importKey = uncurry(subtle.importKey);
    // Non-extractable, and each good for one direction only: the page signs with one key and can only verify with the
    // other, so even a script holding the second CryptoKey object could not sign a reply or an event with it.
    var load = function (queue, text, usage, store) {
      queue(function (done) {
        var imported = importKey(subtle, "raw", unhex(text), { name: "HMAC", hash: "SHA-256" }, false, [usage]);
        var loaded = function (key) { store(key); done(); };
        then(imported, loaded, function () { warn("cannot load the message key"); done(); });
      });
    };
    load(outgoing, keys.page, "sign", function (key) { pageKey = key; });
    load(incoming, keys.rust, "verify", function (key) { rustKey = key; });
    keys = null;
  }

  // Calls `result(good)` with whether `mac` is Rust's MAC of `text` (always true without authentication).
  function check(text, mac, result) {
    if (subtle === null) { result(true); return; }
    var bytes = unhex(mac);
    if (bytes === null || rustKey === null) { result(false); return; }
    var verified = verify(subtle, "HMAC", rustKey, bytes, encode(encoder, "rust\n" + text));
    then(verified, function (good) { result(good === true); }, function () { result(false); });
  }

  var page = random();
  var seq = 0;
  // Posts the message whose JSON is `body`, in order, signed when messages are authenticated.
  function send(body, sent, failed) {
    outgoing(function (done) {
      var n = seq + 1;
      var post = function (mac) {
        seq = n;
        postRaw(channel, "{\"page\":\"" + page + "\",\"seq\":" + n + ",\"body\":" + stringify(body) + ",\"mac\":" +
          (mac === null ? "null" : "\"" + mac + "\"") + "}");
        sent();
        done();
      };
      if (subtle === null) { post(null); return; }
      if (pageKey === null) { failed(new NativeError("message authentication is unavailable")); done(); return; }
      var signed = sign(subtle, "HMAC", pageKey, encode(encoder, page + "\n" + n + "\n" + body));
      then(signed, function (mac) { post(hex(mac, 32)); }, function (error) { failed(error); done(); });
    });
  }

  var names = create(null);
  var realNames = keysOf(initialNames);
  for (var n = 0; n < realNames.length; n += 1) { names[realNames[n]] = initialNames[realNames[n]]; }
  initialNames = null;
  var lanes = create(null);
  function invoke(name, args) {
    return new NativePromise(function (resolve, reject) {
      if (typeof name !== "string" || !owns(names, name)) {
        reject(new NativeError("unknown command: " + name));
        return;
      }
      var argsJson = json(args);
      // A rotating command's name changes with each reply, so calls of one command go one at a time.
      var lane = immediately;
      if (rotating) { lane = lanes[name] || (lanes[name] = serial()); }
      lane(function (done) { call(name, argsJson, resolve, reject, done); });
    });
  }
  function call(name, argsJson, resolve, reject, done) {
    var handle = "_" + random();
    var settled = false;
    var settle = function () { settled = true; delete window[handle]; done(); };
    defineProperty(window, handle, {
      configurable: true,
      value: function (ok, text, next, mac) {
        if (settled || (ok !== true && ok !== false) || typeof text !== "string") { return; }
        if (next !== null && typeof next !== "string") { return; }
        var signed = "reply\n" + handle + "\n" + (ok ? "1" : "0") + "\n" + (next === null ? "" : next) + "\n" + text;
        incoming(function (finished) {
          check(signed, mac, function (good) {
            try {
              if (!good) { warn("dropped a reply with a bad MAC (forged)"); return; }
              if (settled) { return; }
              settle();
              if (next !== null) { names[name] = next; }
              var value = parse(text);
              if (ok) { resolve(value); } else { reject(new NativeError(value)); }
            } finally {
              finished();
            }
          });
        });
      }
    });
    var body = "{\"t\":\"invoke\",\"cmd\":" + stringify(names[name]) + ",\"cb\":\"" + handle + "\",\"args\":" +
      argsJson + "}";
    send(body, function () {}, function (error) { if (!settled) { settle(); reject(error); } });
  }

  var listeners = create(null);
  var nextListener = 0;
  function listen(broker, callback) {
    broker = "" + broker;
    var list = listeners[broker] || (listeners[broker] = create(null));
    var id = nextListener;
    nextListener += 1;
    list[id] = callback;
    return function () { delete list[id]; };
  }
  function deliver(broker, payload) {
    var list = listeners[broker];
    if (list === undefined) { return; }
    var ids = keysOf(list);
    var callbacks = create(null);
    for (var i = 0; i < ids.length; i += 1) { callbacks[i] = list[ids[i]]; }
    for (var j = 0; j < ids.length; j += 1) {
      try { callbacks[j](payload); } catch (e) { consoleError(consoleObject, e); }
    }
  }
  function emit(broker, payload) {
    return new NativePromise(function (resolve, reject) {
      var body = "{\"t\":\"emit\",\"token\":\"" + eventToken + "\",\"broker\":" + stringify("" + broker) +
        ",\"payload\":" + json(payload) + "}";
      send(body, function () { resolve(undefined); }, reject);
    });
  }

  var lastEvent = 0;
  defineProperty(window, dispatchName, {
    value: function (broker, text, seq, mac) {
      if (typeof broker !== "string" || typeof text !== "string" || typeof seq !== "number") { return; }
      var signed = "event\n" + seq + "\n" + broker + "\n" + text;
      incoming(function (finished) {
        check(signed, mac, function (good) {
          try {
            if (!good) { warn("dropped an event with a bad MAC (forged)"); return; }
            if (!(seq > lastEvent)) { warn("dropped a replayed or reordered event"); return; }
            lastEvent = seq;
            deliver(broker, parse(text));
          } finally {
            finished();
          }
        });
      });
    }
  });

  var api = {
    invoke: invoke,
    listen: listen,
    emit: emit,
    commands: freeze(realNames.filter(function (name) { return name.indexOf("millennium:") !== 0; }))
  };
  __APIS__
  defineProperty(window, "Millennium", { value: freeze(api), enumerable: true });
})();

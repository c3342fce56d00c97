// Check-in desk: scan residents' QR codes with the camera. Browsers with BarcodeDetector
// use it; the others (Safari on iPhone, Firefox) use the vendored jsQR decoder
// (static/vendor/jsqr-*.js), loaded only when the camera is first started. Without a camera
// or JavaScript the typed-code form (which works without this file) is used.
(function () {
  "use strict";

  var jsqrLoading = null;

  function loadJsQR(src) {
    if (window.jsQR) return Promise.resolve(window.jsQR);
    if (!jsqrLoading) {
      jsqrLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = src;
        script.onload = function () { window.jsQR ? resolve(window.jsQR) : reject(new Error("jsQR")); };
        script.onerror = function () { jsqrLoading = null; reject(new Error("jsQR")); };
        document.head.appendChild(script);
      });
    }
    return jsqrLoading;
  }

  // A decoder: (video) -> Promise of the text of a QR code in view, or "" for none.
  function makeDecoder(jsqrSrc) {
    if ("BarcodeDetector" in window) {
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      return Promise.resolve(function (video) {
        return detector.detect(video).then(function (codes) {
          return codes.length ? codes[0].rawValue || "" : "";
        });
      });
    }
    return loadJsQR(jsqrSrc).then(function (jsQR) {
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d", { willReadFrequently: true });
      return function (video) {
        // Decode a frame of at most 640 px on its longer side (fast enough on phones).
        var scale = Math.min(1, 640 / Math.max(video.videoWidth, video.videoHeight));
        canvas.width = Math.round(video.videoWidth * scale);
        canvas.height = Math.round(video.videoHeight * scale);
        context.drawImage(video, 0, 0, canvas.width, canvas.height);
        var image = context.getImageData(0, 0, canvas.width, canvas.height);
        var code = jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
        return Promise.resolve(code ? code.data : "");
      };
    });
  }

  function submitCode(value) {
    // The form is swapped by htmx after each check-in: look it up every time.
    var form = document.getElementById("checkin-form");
    var input = document.getElementById("code");
    if (!form || !input) return;
    input.value = value;
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }

  function setup() {
    var scanButton = document.getElementById("scan-button");
    var scanner = document.getElementById("scanner");
    var video = document.getElementById("scanner-video");
    var stopButton = document.getElementById("scan-stop");
    if (!scanButton || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
    scanButton.hidden = false;
    var stream = null;
    var timer = null;
    var lastValue = "";
    var busy = false;

    function stop() {
      if (timer) { clearInterval(timer); timer = null; }
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      scanner.hidden = true;
      scanButton.hidden = false;
    }

    function start(decode) {
      timer = setInterval(function () {
        if (busy || !video.videoWidth) return;
        busy = true;
        decode(video).then(function (value) {
          if (value && value !== lastValue) {  // a code held in view is sent once
            lastValue = value;
            submitCode(value);
          }
        }).catch(function () { /* an unreadable frame: try the next one */ })
          .then(function () { busy = false; });
      }, 300);
    }

    scanButton.addEventListener("click", function () {
      var decoder = makeDecoder(scanButton.getAttribute("data-jsqr-src"));
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          scanner.hidden = false;
          scanButton.hidden = true;
          return video.play();
        })
        .then(function () { return decoder; })
        .then(start)
        .catch(function () {
          stop();
          var input = document.getElementById("code");
          if (input) input.focus();
        });
    });
    stopButton.addEventListener("click", stop);
  }

  document.addEventListener("DOMContentLoaded", setup);
})();

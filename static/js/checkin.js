// Check-in desk: scan residents' QR codes with the camera where the browser has
// BarcodeDetector; otherwise the typed-code form (which works without this file) is used.
(function () {
  "use strict";

  function setup() {
    var scanButton = document.getElementById("scan-button");
    var scanner = document.getElementById("scanner");
    var video = document.getElementById("scanner-video");
    var stopButton = document.getElementById("scan-stop");
    if (!scanButton || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
    scanButton.hidden = false;
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    var stream = null;
    var timer = null;
    var lastValue = "";

    function stop() {
      if (timer) { clearInterval(timer); timer = null; }
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      scanner.hidden = true;
      scanButton.hidden = false;
    }

    function tick() {
      if (!video.videoWidth) return;
      detector.detect(video).then(function (codes) {
        if (!codes.length) return;
        var value = codes[0].rawValue;
        if (!value || value === lastValue) return;  // a code held in view is sent once
        lastValue = value;
        // The form is swapped by htmx after each check-in: look it up every time.
        var form = document.getElementById("checkin-form");
        var input = document.getElementById("code");
        if (!form || !input) return;
        input.value = value;
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      }).catch(function () { /* an unreadable frame: try the next one */ });
    }

    scanButton.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          scanner.hidden = false;
          scanButton.hidden = true;
          return video.play();
        })
        .then(function () { timer = setInterval(tick, 300); })
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

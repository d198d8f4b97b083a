"use strict";
// wiresift sample site: recolours paragraphs and shows a rotating message.
const PALETTE = [
  "#941061", "#f96933", "#13881b", "#32329b", "#15725f", "#3d2966", "#b73b4a", "#b32f80",
  "#d0e166", "#7cc7df", "#c612c6", "#7aeb3e", "#3fd3f3", "#20eb91", "#a61f46", "#7a18ec",
  "#06e941", "#7a1af7", "#c3491f", "#c17431", "#703e7d", "#9b01dc", "#99b64d", "#91a79b",
  "#683a86", "#3a8895", "#03cf14", "#982905", "#f08322", "#42cee0", "#74dde5", "#95b17f",
  "#ba7037", "#3f5b78", "#54002e", "#de12ad", "#103a49", "#180956", "#1a3b76", "#ae61d0",
  "#d2627b", "#8c4853", "#6eeb46", "#4095b3", "#b0e07e", "#77b78b", "#28bdb3", "#681858",
  "#cf15c2", "#565c0e", "#ac0126", "#66e545", "#578d6b", "#ffc60c", "#90b6b3", "#33330d",
  "#561741", "#e1716e", "#4223d0", "#83349d", "#3b4504", "#50ce0d", "#430b47", "#e4fc99",
  "#1b8881", "#41bf21", "#0746ec", "#4b9390", "#7d0254", "#60b410", "#756cf1", "#b76498",
  "#1d06d2", "#a4f246", "#e731a8", "#67cedd", "#226096", "#8a956d", "#184f5b", "#ecc8b1",
  "#1f83c0", "#0a2958", "#8b4ef2", "#f33031", "#930727", "#453732", "#ee04e5", "#47a899",
  "#942572", "#97f3b3", "#2ad7fb", "#911dc0", "#98a7ce", "#edb7d1", "#31440b", "#24b374"
];
const MESSAGES = [
  "Sensor parser river buffer capture header willow.",
  "Frame interface segment proxy amber header parser glacier orbit.",
  "Compass socket filter cache filter switch capture switch frame.",
  "Filter gateway signal packet socket glacier buffer river summit token glacier filter token tundra.",
  "Violet frame header switch server route header payload anchor gateway compass.",
  "Capture packet interface filter tundra decoder client payload request route willow token.",
  "Canyon header header loopback window filter summit harbor segment amber meadow namespace.",
  "Archive cache interface download anchor header response cookie willow.",
  "Capture tunnel loopback packet segment window glacier anchor capture client server cache session buffer meadow.",
  "Header gateway client orbit header header.",
  "Cobalt parser response client prairie segment buffer river cobalt server cache cobalt bridge summit.",
  "Segment download harbor beacon latency latency.",
  "Stream parser tundra filter download header.",
  "Harbor stream request payload payload prairie tundra socket payload.",
  "Buffer glacier packet client namespace filter loopback decoder header.",
  "Saffron namespace orbit gateway violet cookie header parser namespace archive quartz.",
  "Stream switch buffer cookie latency header cache parser capture client anchor.",
  "Capture buffer socket river bridge stream latency jitter amber token cookie prairie request jitter amber.",
  "Violet switch packet parser cookie loopback buffer.",
  "Jitter filter tundra prairie tundra gateway bridge amber frame checksum summit proxy.",
  "Download tundra server header beacon response orbit.",
  "Server parser segment client namespace archive decoder filter filter orbit jitter meadow amber archive.",
  "Prairie client payload response server quartz beacon latency violet bridge checksum namespace gateway route latency.",
  "Filter filter interface bridge saffron prairie violet ledger cookie stream lantern segment orbit."
];
function hash(text) {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}
document.addEventListener("DOMContentLoaded", () => {
  const paragraphs = document.querySelectorAll("main p");
  paragraphs.forEach((p) => {
    p.style.borderLeft = `4px solid ${PALETTE[hash(p.textContent) % PALETTE.length]}`;
  });
  const note = document.createElement("aside");
  note.textContent = MESSAGES[hash(document.title) % MESSAGES.length];
  document.body.append(note);
});

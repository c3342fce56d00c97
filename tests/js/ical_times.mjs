// Parse an iCalendar file with ical.js (the parser in Thunderbird and many web calendars)
// and print what it understood as JSON: the calendar's METHOD and, for every VEVENT, its
// UID, SUMMARY, STATUS, SEQUENCE and UTC start and end. Used by tests/meetings/test_ical.py.
//   node tests/js/ical_times.mjs < calendar.ics
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const text = readFileSync(process.argv[2] || 0, "utf8");
const calendar = new ICAL.Component(ICAL.parse(text));
for (const zone of calendar.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(zone);
}
const utc = (time) => time.convertToZone(ICAL.Timezone.utcTimezone).toString();
const events = calendar.getAllSubcomponents("vevent").map((component) => {
  const event = new ICAL.Event(component);
  return {
    uid: event.uid,
    summary: event.summary,
    status: component.getFirstPropertyValue("status"),
    sequence: event.sequence,
    tzid: component.getFirstProperty("dtstart").getParameter("tzid") || null,
    start: utc(event.startDate),
    end: utc(event.endDate),
  };
});
console.log(JSON.stringify({
  method: calendar.getFirstPropertyValue("method"),
  components: calendar.getAllSubcomponents().map((c) => c.name),
  events,
}));

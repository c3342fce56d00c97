"""Labelled example messages for the guard (webapp/platform/guard): what residents write to their
ward team. Labels: "emergency" (must always be caught), "report" (a crime report: should
be pointed to 101 / online), "ordinary" (a question or comment: should go straight
through), "rumour" (something heard: ordinary for the guard) and "colloquial" (London
ways of saying ordinary things; ordinary for the guard). ``bench/guard.py`` prints the
figures; ``tests/guard/test_guard.py`` holds the guard to them."""

EMERGENCY = [
    "There's a fight happening now outside the chicken shop on Coldharbour Lane",
    "Someone is being attacked on the towpath, please send someone",
    "He has a knife and he's shouting at people by the bus stop",
    "Help! Someone is trying to get into my flat",
    "My neighbour is being beaten up next door right now, I can hear screaming",
    "A man is bleeding on the pavement outside the station",
    "They're kicking in the door of the flat upstairs",
    "There are shots fired near the estate, everyone is running",
    "Please help, my ex is outside my door now and won't leave",
    "A group of lads just got stabbed outside the youth club",
    "Someone is in my house, I can hear them downstairs",
    "Guy waving a machete on the high street",
    "A woman is being dragged into a car on Brixton Road",
    "He said he's going to kill me, he's been texting all night",
    "The man next door is strangling her, I can hear it",
    "Man pulled out a shank on the 159 bus",
    "There's a massive fight on the estate with bats",
    "They are breaking in now through the back window",
    "Man collapsed and not breathing at the bus stop",
    "Kids are getting rushed by a group with blades outside the school gates as we speak",
    "Someone is following me home from the station and I'm scared",
    "The flat below is on fire and people are inside",
]

REPORT = [
    "I want to report a burglary at my house last week",
    "My car was broken into last night on Dulwich Road",
    "Someone stole my bike from outside Tesco yesterday",
    "I'd like to report a theft from my garden shed",
    "My phone got snatched on Oxford Street on Saturday",
    "I was mugged near the park on Tuesday evening",
    "We have been burgled while we were away on holiday",
    "Someone keyed my car overnight, what should I do?",
    "My catalytic converter was stolen from the drive",
    "How do I report a scam call that took money from my mum?",
    "A man punched me outside the pub last Friday",
    "Some kids nicked my parcel from the doorstep",
    "I've got a crime reference number but nobody has called me back",
    "My van was broken into again, third time this month",
]

ORDINARY = [
    "When is the next ward panel meeting?",
    "Could you tell us who our PCSO is now?",
    "Is there anything being done about the speeding on Herne Hill?",
    "Thanks for coming to the school assembly, the kids loved it",
    "Can you put more patrols on the towpath in the evenings?",
    "The street light on Railton Road has been out for weeks",
    "Do you run bike marking sessions in Vauxhall?",
    "We'd like to set up a neighbourhood watch on our road, how do we start?",
    "Are the e-scooters allowed on the pavement?",
    "Where can I get advice about securing my front door?",
    "Is knife crime in the borough going up or down this year?",
    "Could an officer come to our residents' association meeting?",
    "What should I do about fly-tipping behind the flats?",
    "There's a lot of antisocial behaviour in the park at weekends, can you help with that?",
    "How can I join the independent advisory group?",
    "Who do I talk to about the parking on our street?",
    "Is the police station front counter still open on Sundays?",
    "Can you explain what a dispersal order means for our area?",
    "Thank you for the update on the phone snatches",
    "Our Whatsapp group asked me to pass on thanks for the quick response last month",
]

RUMOUR = [
    "People say the station on Brixton Road is closing, is that true?",
    "I heard there was a stabbing by the market last week, did that happen?",
    "Someone on Facebook said a child was taken from the playground, is it real?",
    "Heard the police are stopping every car on Coldharbour Lane, why?",
    "Is it true that the ward team is being cut to one officer?",
    "There's a rumour about a gang moving into the estate, should we worry?",
    "My neighbour says there were armed police on our street yesterday, what was it about?",
    "Apparently there's a van going round trying car doors at night, have you heard?",
    "People are saying the shooting in Stockwell was connected to our area",
    "Is it true the park will be locked at night from next month?",
]

COLLOQUIAL = [
    "Alright, any chance of a bit more of a police presence round the estate innit",
    "The youts on bikes are proper doing my head in, bare noise every night",
    "Cheers for sorting the bins issue, you lot are alright",
    "Man's just asking when the next meeting is, ta",
    "Bruv the road outside is mad with speeding cars, can you have a word",
    "Is it safe to walk through the park after dark or nah",
    "Big up the PCSOs at the school gates, the mums appreciate it",
    "Wagwan, who's our new sergeant?",
    "Them lot selling weed by the garages is long, can you do summat",
    "Any news on the moped lot? Haven't seen them about lately",
]

ORDINARY_LIKE = ORDINARY + RUMOUR + COLLOQUIAL

LABELLED = ([(t, "emergency") for t in EMERGENCY] + [(t, "report") for t in REPORT]
            + [(t, "ordinary") for t in ORDINARY] + [(t, "rumour") for t in RUMOUR]
            + [(t, "colloquial") for t in COLLOQUIAL])


def figures(check) -> dict:
    """The guard's figures on the corpus: ``check(text)`` returns a result with ``level``."""
    levels = {text: check(text).level for text, _ in LABELLED}
    caught = [t for t in EMERGENCY if levels[t] == "emergency"]
    reports_flagged = [t for t in REPORT if levels[t] is not None]
    reports_as_report = [t for t in REPORT if levels[t] == "report"]
    interrupted = [t for t in ORDINARY_LIKE if levels[t] is not None]
    return {
        "messages": len(LABELLED),
        "emergency_recall": len(caught) / len(EMERGENCY),
        "missed_emergencies": [t for t in EMERGENCY if t not in caught],
        "report_recall": len(reports_flagged) / len(REPORT),
        "report_as_report": len(reports_as_report) / len(REPORT),
        "missed_reports": [t for t in REPORT if t not in reports_flagged],
        "false_positive_rate": len(interrupted) / len(ORDINARY_LIKE),
        "interrupted": [(t, levels[t]) for t in interrupted],
    }

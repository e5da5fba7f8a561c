"""The voicemail service (R14): a SIP user agent on rtcstack's own SIP and RTP code that answers the calls
Kamailio sends it (unanswered, busy, do-not-disturb, for accounts with voicemail on), plays the mailbox's
greeting, records the caller as G.711 until silence or the maximum length, and stores the message (a WAV file
on this host, a row in the database); its HTTP API serves the portal (audio, greetings, deletion)."""

"""Protocol clients on plain sockets (gevent-friendly): SIP, RTP, a TURN client and REST credentials, Janus.
Used by the load tests now and by runtime services (voicemail, a conference gateway) later."""

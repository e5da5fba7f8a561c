"""The conference gateway (L5): brings a video phone, a plain SIP/RTP device, into a conference link's group
call. It calls the phone through Kamailio as the link's conference account, joins the phone's audio to the
room's Janus AudioBridge as a plain-RTP participant, publishes the phone's video on a Janus Streaming
mountpoint and sends one browser's video (VideoRoom `rtp_forward`) to the phone. Janus never transcodes:
the room's video codec is pinned to H.264 42e01f packetization-mode 1, which SIP video phones speak."""

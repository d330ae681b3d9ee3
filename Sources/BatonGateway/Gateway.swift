// The HTTP gateway: see issue 4.

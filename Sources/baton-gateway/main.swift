print("baton-gateway: not yet implemented")

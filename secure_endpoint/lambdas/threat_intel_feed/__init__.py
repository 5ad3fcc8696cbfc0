"""WAF IP sets filled from public IP reputation feeds (Spamhaus DROP, Tor exit nodes, ...)."""

"""Files derived from the answers: swanctl/ipsec configs, L2TP, strongswan.d, firewall, client profiles."""

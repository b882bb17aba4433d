"""The local simulated GPU cluster: real control-plane binaries built from Go modules, kwok nodes on loopback."""

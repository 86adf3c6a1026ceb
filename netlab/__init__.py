"""netlab: virtual labs for overlay networks (VXLAN, GENEVE, GRE, gretap, IPIP, SIT), verified."""

__version__ = "0.1.0"

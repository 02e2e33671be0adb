"""Jetson board facts and probes: the board, L4T/JetPack and power mode, tegrastats, jetson_clocks."""

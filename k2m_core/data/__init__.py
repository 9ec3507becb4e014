"""MoCap sources (AMASS, synthetic motion) and on-the-fly training pairs."""

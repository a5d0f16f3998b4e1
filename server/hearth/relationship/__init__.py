"""The relationship layer: who the person is, their time, and a character who reaches out."""

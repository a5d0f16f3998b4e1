"""The relationship: who the person is, their plans and dates, and a character who reaches out."""

"""The relationship: the person's dated plans, milestones and the character's initiative."""

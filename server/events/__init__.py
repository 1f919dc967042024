"""Events (a university festival, a school's renovation): pools of their own point code, handed over."""

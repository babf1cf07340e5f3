"""Learning-platform exports (Canvas, Moodle, ItsLearning, ladok3) and merging them into a list."""

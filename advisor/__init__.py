"""eco-advise: energy-saving recommendations and crossover estimates from a built dataset."""

"""dataset_card"""

"""binding"""

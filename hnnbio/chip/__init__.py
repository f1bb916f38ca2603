"""chip"""

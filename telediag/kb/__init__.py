"""The knowledge base: articles in the customers' languages, found for a ticket and sent as its answer."""

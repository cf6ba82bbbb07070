"""The transactional book shop (OLTP): books, customers, orders, order lines.

Its committed changes reach Kafka as ``sale.v1`` events through change data
capture (``salespulse cdc``); nothing here talks to Kafka.
"""

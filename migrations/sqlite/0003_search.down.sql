DROP TRIGGER search_documents_au;
DROP TRIGGER search_documents_ad;
DROP TRIGGER search_documents_ai;
DROP TABLE search_fts;
DROP INDEX search_documents_owner;
DROP INDEX search_documents_task;
DROP TABLE search_documents;
